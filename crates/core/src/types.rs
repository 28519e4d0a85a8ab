//! Identifiers and positions: newtypes so a term can never be passed where an
//! index is expected (etcd added `entryID` for the same reason).

use bytes::Bytes;
use std::fmt;

macro_rules! id_newtype {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name(u64);

        impl $name {
            /// The zero value.
            pub const ZERO: $name = $name(0);

            /// Wraps a raw value (for decoding from the wire or disk).
            pub const fn new(raw: u64) -> Self {
                $name(raw)
            }

            /// The raw value (for encoding to the wire or disk).
            pub const fn get(self) -> u64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}{}", $prefix, self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}{}", $prefix, self.0)
            }
        }
    };
}

id_newtype!(
    /// A Raft term (§5.1). Terms only grow; zero means "before any election".
    Term, "t"
);
id_newtype!(
    /// A log position (§5.3). Index 0 is the empty prefix; the first entry is 1.
    Index, "i"
);
id_newtype!(
    /// A member of a Raft group. Zero is reserved for "nobody".
    NodeId, "n"
);
id_newtype!(
    /// One Raft group among many on a node (multi-raft).
    GroupId, "g"
);

impl Term {
    /// The following term, used when a node starts an election.
    pub fn next(self) -> Term {
        Term(self.0.checked_add(1).expect("term overflow"))
    }
}

impl Index {
    /// The following position.
    pub fn next(self) -> Index {
        Index(self.0.checked_add(1).expect("log index overflow"))
    }

    /// The following position, or `None` at `u64::MAX` (for a peer's
    /// number).
    pub(crate) fn checked_next(self) -> Option<Index> {
        self.0.checked_add(1).map(Index)
    }

    /// The preceding position; `Index::ZERO.prev()` is a bug.
    pub fn prev(self) -> Index {
        Index(self.0.checked_sub(1).expect("log index underflow"))
    }

    /// The preceding position, or zero at zero.
    pub fn saturating_prev(self) -> Index {
        Index(self.0.saturating_sub(1))
    }

    /// `self + n`.
    pub fn plus(self, n: u64) -> Index {
        Index(self.0.checked_add(n).expect("log index overflow"))
    }

    /// The number of positions in `self..end` (zero when `end <= self`).
    pub fn distance_to(self, end: Index) -> u64 {
        end.0.saturating_sub(self.0)
    }
}

impl NodeId {
    /// "Nobody": no vote cast, no leader known.
    pub const NONE: NodeId = NodeId(0);

    /// True for the reserved "nobody" id.
    pub fn is_none(self) -> bool {
        self.0 == 0
    }
}

/// Names one entry: its term and index (§5.3 log matching works on pairs).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Debug)]
pub struct EntryId {
    pub term: Term,
    pub index: Index,
}

impl EntryId {
    pub const fn new(term: Term, index: Index) -> Self {
        EntryId { term, index }
    }
}

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.term, self.index)
    }
}

/// What an entry carries.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum EntryKind {
    /// An application command (possibly empty: the no-op a new leader appends).
    Normal,
    /// An encoded [`crate::ConfChange`]: a membership change.
    ConfChange,
}

impl EntryKind {
    /// The wire/disk code of this kind.
    pub fn code(self) -> u8 {
        match self {
            EntryKind::Normal => 0,
            EntryKind::ConfChange => 1,
        }
    }

    /// Decodes a wire/disk code; `None` for an unknown code.
    pub fn from_code(code: u8) -> Option<EntryKind> {
        match code {
            0 => Some(EntryKind::Normal),
            1 => Some(EntryKind::ConfChange),
            _ => None,
        }
    }
}

/// One log entry.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Entry {
    pub term: Term,
    pub index: Index,
    pub kind: EntryKind,
    pub data: Bytes,
}

impl Entry {
    /// The entry's (term, index).
    pub fn id(&self) -> EntryId {
        EntryId::new(self.term, self.index)
    }

    /// Bytes counted against size limits: payload plus a fixed header
    /// allowance, so empty entries still cost something.
    pub fn size_bytes(&self) -> u64 {
        self.data.len() as u64 + ENTRY_OVERHEAD_BYTES
    }
}

/// Per-entry allowance for term, index and framing in byte budgets.
pub const ENTRY_OVERHEAD_BYTES: u64 = 24;

/// State that must be durable before any message that depends on it leaves
/// (Figure 2: "persistent state on all servers").
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug)]
pub struct HardState {
    pub current_term: Term,
    pub voted_for: NodeId,
    pub commit_index: Index,
}

/// The role a node plays in its group.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Role {
    Follower,
    PreCandidate,
    Candidate,
    Leader,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Role::Follower => "follower",
            Role::PreCandidate => "pre-candidate",
            Role::Candidate => "candidate",
            Role::Leader => "leader",
        };
        f.write_str(name)
    }
}

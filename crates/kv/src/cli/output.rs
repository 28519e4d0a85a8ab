//! Plain-text tables in the style of `etcdctl -w table`, and values
//! printed for people.

use crate::api::{Blob, ClusterStatus, KeyValueJson, MemberRole, ScanResult};

/// A table with a header row, drawn with ASCII borders.
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&str]) -> Table {
        Table {
            headers: headers.iter().map(|header| (*header).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        assert_eq!(
            cells.len(),
            self.headers.len(),
            "row width differs from header"
        );
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let rule: String = widths.iter().fold(String::from("+"), |mut line, width| {
            line.push_str(&"-".repeat(width + 2));
            line.push('+');
            line
        });
        let line = |cells: &[String]| {
            let mut text = String::from("|");
            for (cell, width) in cells.iter().zip(&widths) {
                let pad = width - cell.chars().count();
                text.push_str(&format!(" {cell}{} |", " ".repeat(pad)));
            }
            text
        };
        let mut out = vec![rule.clone(), line(&self.headers), rule.clone()];
        out.extend(self.rows.iter().map(|row| line(row)));
        out.push(rule);
        out.join("\n") + "\n"
    }
}

/// A key or value for a terminal: text as is, other bytes as hex.
pub fn show(blob: &Blob) -> String {
    match std::str::from_utf8(&blob.0) {
        Ok(text) => text.to_owned(),
        Err(_) => format!("0x{}", crate::api::hex_encode(&blob.0)),
    }
}

/// A key or value for a table cell, unambiguous: bytes that are not
/// UTF-8 as `0x` and hex; text as is, or quoted and escaped when it starts
/// like either form (`0x`, `"`) or holds control characters.
pub fn show_cell(blob: &Blob) -> String {
    match std::str::from_utf8(&blob.0) {
        Ok(text) => {
            let ambiguous = text.starts_with("0x")
                || text.starts_with('"')
                || text.chars().any(char::is_control);
            if ambiguous {
                format!("{text:?}")
            } else {
                text.to_owned()
            }
        }
        Err(_) => format!("0x{}", crate::api::hex_encode(&blob.0)),
    }
}

pub fn scan_table(scan: &ScanResult) -> String {
    let mut table = Table::new(&["KEY", "VALUE", "CREATE REV", "MOD REV", "VERSION"]);
    for kv in &scan.kvs {
        table.row(key_value_cells(kv));
    }
    let mut text = table.render();
    text.push_str(&format!("revision {}", scan.revision));
    if scan.more {
        text.push_str(", more keys match (raise --limit)");
    }
    text.push('\n');
    text
}

fn key_value_cells(kv: &KeyValueJson) -> Vec<String> {
    vec![
        show_cell(&kv.key),
        show_cell(&kv.value),
        kv.create_revision.to_string(),
        kv.mod_revision.to_string(),
        kv.version.to_string(),
    ]
}

pub fn cluster_table(status: &ClusterStatus) -> String {
    let mut table = Table::new(&[
        "ID",
        "ROLE",
        "IS LEADER",
        "PEER URL",
        "CLIENT URL",
        "MATCH INDEX",
        "LAG",
        "LAST CONTACT",
    ]);
    let number = |value: Option<u64>| value.map(|v| v.to_string()).unwrap_or_default();
    for member in &status.members {
        table.row(vec![
            member.id.to_string(),
            match member.role {
                MemberRole::Voter => "voter".into(),
                MemberRole::Learner => "learner".into(),
                MemberRole::Standby => "standby".into(),
            },
            member.is_leader.to_string(),
            member.peer_url.clone(),
            member.client_url.clone().unwrap_or_default(),
            number(member.match_index),
            number(member.lag_entries),
            member
                .last_contact_ms
                .map(|ms| format!("{ms} ms"))
                .unwrap_or_default(),
        ]);
    }
    let progress_known = status.leader_id == Some(status.node_id);
    let note = if progress_known || status.members.is_empty() {
        ""
    } else {
        "replication progress is known to the leader only, which did not answer\n"
    };
    let leader = status
        .leader_id
        .map_or_else(|| "none".to_owned(), |id| id.to_string());
    format!(
        "cluster {} (answered by {}): leader {leader}, term {}, commit {}, applied {}, revision {}\n{}{note}",
        status.cluster_id,
        status.node_id,
        status.term,
        status.commit_index,
        status.applied_index,
        status.revision,
        table.render()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_and_look_alike_text_cells_differ() {
        let binary = show_cell(&Blob(bytes::Bytes::from_static(&[0x00, 0xff])));
        let text = show_cell(&Blob::from("0x00ff"));
        assert_eq!(binary, "0x00ff");
        assert_eq!(text, "\"0x00ff\"");
        assert_eq!(show_cell(&Blob::from("plain/key")), "plain/key");
        assert_eq!(show_cell(&Blob::from("\"q\"")), "\"\\\"q\\\"\"");
        assert_eq!(show_cell(&Blob::from("a\nb")), "\"a\\nb\"");
    }

    #[test]
    fn table_pads_columns_to_the_widest_cell() {
        let mut table = Table::new(&["ID", "NAME"]);
        table.row(vec!["1".into(), "alpha".into()]);
        let expected = "\
+----+-------+
| ID | NAME  |
+----+-------+
| 1  | alpha |
+----+-------+
";
        assert_eq!(table.render(), expected);
    }
}

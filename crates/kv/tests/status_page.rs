//! The status page as people see it: headless Chromium loads a live
//! 3-node cluster's pages, runs their scripts, and the rendered DOM is
//! checked. Without a browser the test is skipped locally with a note,
//! and fails under CI (`CI=true`), where `.ci/run` installs one.

mod e2e_support;

use e2e_support::{wait_for, Cluster};
use std::path::PathBuf;
use std::process::Command;

/// Browsers tried, in order, on `PATH`.
const BROWSERS: [&str; 4] = [
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
];

fn browser() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    BROWSERS.iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    })
}

/// The DOM of `url` once its scripts ran and its first fetch finished.
fn rendered_dom(browser: &PathBuf, url: &str) -> String {
    let profile = tempfile::tempdir().expect("profile dir");
    let output = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--virtual-time-budget=3000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(["--dump-dom", url])
        .output()
        .expect("runs the browser");
    let dom = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        dom.contains(r#"data-rendered="yes""#),
        "the page did not render {url}: {dom}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    dom
}

/// The text of every `<td class="{class}">` cell, in document order.
fn cells(dom: &str, class: &str) -> Vec<String> {
    let open = format!(r#"<td class="{class}">"#);
    dom.split(&open)
        .skip(1)
        .map(|rest| rest.split("</td>").next().unwrap_or_default().to_owned())
        .collect()
}

/// Milliseconds since the Unix epoch.
#[allow(clippy::disallowed_methods)] // Compared with the node's wall clock.
fn now_ms() -> u64 {
    let elapsed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970");
    u64::try_from(elapsed.as_millis()).expect("fits")
}

#[test]
fn the_status_page_renders_the_leaders_view_and_election_times() {
    let Some(browser) = browser() else {
        let reason =
            "no chromium on PATH; install it (apt-get install chromium) to check the status page";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{reason}");
        eprintln!("skipped: {reason}");
        return;
    };
    let cluster = Cluster::start(3);
    // The page of a node that led while it rendered, with every member
    // heard from (a loaded machine may hold an election in between).
    let (opened_ms, page) = wait_for("the leader's page", || {
        let leader = cluster.leader();
        let status = e2e_support::http("GET", cluster.url(leader), "/v1/cluster", b"").json();
        let members = status["members"].as_array()?.clone();
        if !members.iter().all(|m| m["last_contact_ms"].is_u64()) {
            return None;
        }
        let opened_ms = now_ms();
        let page = rendered_dom(&browser, &format!("{}/", cluster.url(leader)));
        let led = page.contains(&format!(r#"<b id="leader">{leader}</b>"#))
            && page.contains(&format!(r#"<b id="node">{leader}</b>"#));
        led.then_some((opened_ms, page))
    });
    assert!(
        page.contains(r#"<h1>Cluster <span id="cluster">quorate</span></h1>"#),
        "{page}"
    );
    assert!(!page.contains("quorate quorate"), "{page}");
    assert_eq!(
        page.matches(r#"class="bar""#).count(),
        3,
        "a lag bar per member: {page}"
    );
    let contacts = cells(&page, "contact");
    assert_eq!(contacts.len(), 3, "{page}");
    assert!(contacts.iter().all(|c| c.ends_with(" ms")), "{contacts:?}");
    let lags = cells(&page, "lag");
    assert!(
        lags.iter().all(|lag| lag.parse::<u64>().is_ok()),
        "{lags:?}"
    );
    // The newest leader change is the election, before the page opened.
    let at_ms: u64 = page
        .split(r#"data-at-ms=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .and_then(|at| at.parse().ok())
        .unwrap_or_else(|| panic!("no leader change listed: {page}"));
    assert!(
        at_ms < opened_ms,
        "listed at {at_ms}, page opened at {opened_ms}"
    );

    let (leader, page) = wait_for("a follower's page naming the leader", || {
        let leader = cluster.leader();
        let follower = cluster.follower(leader);
        let page = rendered_dom(&browser, &format!("{}/", cluster.url(follower)));
        let named = page.contains(&format!(r#"<b id="leader">{leader}</b>"#));
        named.then_some((leader, page))
    });
    assert_eq!(
        page.matches(r#"class="bar""#).count(),
        0,
        "no bars without progress: {page}"
    );
    assert!(cells(&page, "lag").iter().all(|lag| lag == "-"), "{page}");
    let link = format!(r#"<a href="{}/">"#, cluster.url(leader));
    assert!(page.contains(&link), "a link to the leader's page: {page}");
    assert!(page.contains("data-at-ms"), "{page}");
}

//! The GraphQL-over-HTTP spec's server audits (npm `graphql-http`'s `serverAudits`, pinned in
//! `tests/audit/package.json`), run against the real router: every audit must pass.

use crate::support::spawn_app;

/// `tests/audit` with its npm packages installed (`npm ci` the first time).
fn audit_dir() -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/audit");
    if !dir.join("node_modules/graphql-http").exists() {
        let status = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--silent"])
            .current_dir(&dir)
            .status()
            .expect("npm runs (Node.js and npm are needed: apt-get install nodejs npm)");
        assert!(status.success(), "npm ci in tests/audit failed");
    }
    dir
}

#[tokio::test]
async fn every_graphql_over_http_audit_passes() {
    let app = spawn_app().await;
    let dir = audit_dir();
    let url = app.url("/graphql");
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node")
            .arg("audit.mjs")
            .arg(&url)
            .current_dir(&dir)
            .output()
            .expect("node runs (Node.js is needed: apt-get install nodejs)")
    })
    .await
    .expect("the audit's thread");
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "audits failed:\n{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(report.contains("61/61 audits ok"), "{report}");
}

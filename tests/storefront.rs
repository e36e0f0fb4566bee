//! The reference storefront (`examples/storefront`) in a real browser against this build's
//! gateway: its unit tests, its type-checked build with the generated persisted-query
//! manifest, and the shopper's journeys in Chromium, on a gateway in `allow` mode and on one
//! that serves the manifest's operations only.
//!
//! A test binary of its own, not a module of `it`: cargo runs test binaries one after
//! another, so the browser journeys never share the two cores with the `it` suite's hundreds
//! of parallel tests (under that load a page's waits once ran out).

#[test]
fn the_reference_storefront_sells_in_a_real_browser_by_apq_and_by_manifest_ids_only() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let status = std::process::Command::new(root.join("scripts/storefront-e2e"))
        .env("GATEWAY_BIN", env!("CARGO_BIN_EXE_storefront-gateway"))
        .status()
        .expect("scripts/storefront-e2e runs");
    assert!(
        status.success(),
        "the storefront's tests failed (screenshots and gateway logs: examples/storefront/e2e/artifacts)"
    );
}

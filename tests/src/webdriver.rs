//! Headless Chromium over WebDriver for the browser tests of the node's web app and the hub's
//! pages: Debian's `chromedriver` on a free loopback port and a `fantoccini` client with a
//! fresh profile. Included with `#[path]` beside `harness.rs` (it names `super::harness`).

#![allow(clippy::unwrap_used, dead_code)]

use std::net::SocketAddr;

/// Debian's chromedriver on a free loopback port, killed when dropped.
pub struct Driver {
    pub child: std::process::Child,
    pub url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn chromedriver() -> Driver {
    let bin = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect(
            "chromedriver is not installed: apt-get install chromium-driver (.ci/run does this)",
        );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new(bin)
        .arg(format!("--port={port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "chromedriver did not start"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    }
}

/// Headless Chromium through WebDriver, with a fresh profile.
pub async fn browser(driver: &Driver, profile: &std::path::Path) -> fantoccini::Client {
    browser_with(
        driver,
        profile,
        &["--window-size=1200,900"],
        serde_json::Map::new(),
    )
    .await
}

/// Headless Chromium with extra arguments and `goog:chromeOptions` entries (phone emulation).
pub async fn browser_with(
    driver: &Driver,
    profile: &std::path::Path,
    extra_args: &[&str],
    mut options: serde_json::Map<String, serde_json::Value>,
) -> fantoccini::Client {
    let args = super::harness::CHROMIUM_ARGS
        .iter()
        .chain(extra_args)
        .map(|a| (*a).to_owned())
        .chain([format!("--user-data-dir={}", profile.display())])
        .collect::<Vec<_>>();
    options.insert("binary".into(), "/usr/bin/chromium".into());
    options.insert("args".into(), args.into());
    let mut caps = serde_json::Map::new();
    caps.insert("goog:chromeOptions".into(), options.into());
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    fantoccini::ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .unwrap()
}

/// Waits for an element (the page after a click) and returns it.
pub async fn element(c: &fantoccini::Client, css: &str) -> fantoccini::elements::Element {
    c.wait()
        .for_element(fantoccini::Locator::Css(css))
        .await
        .unwrap()
}

pub async fn path_of(c: &fantoccini::Client) -> String {
    c.current_url().await.unwrap().path().to_owned()
}

/// Clicks what a locator finds.
pub async fn click(c: &fantoccini::Client, what: fantoccini::Locator<'_>) {
    c.find(what).await.unwrap().click().await.unwrap();
}

/// Types into the field a selector names (waiting for it: the page may be loading).
pub async fn type_into(c: &fantoccini::Client, css: &str, text: &str) {
    element(c, css).await.send_keys(text).await.unwrap();
}

/// Clicks the element a selector names, once it is there.
pub async fn click_when(c: &fantoccini::Client, css: &str) {
    element(c, css).await.click().await.unwrap();
}

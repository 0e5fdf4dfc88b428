//! A real headless Chromium driven through chromedriver (WebDriver), for the web till's tests.
//!
//! The test command installs Debian's `chromium` and `chromium-driver` and sets
//! `POSD_REQUIRE_BROWSER=1`; elsewhere, a machine without them skips the browser tests with a
//! message instead of failing.

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// chromedriver, its browser profile, and a WebDriver session.
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

fn find(names: &[&str]) -> Option<PathBuf> {
    names.iter().map(PathBuf::from).find(|p| p.exists())
}

/// The browser and its driver, or `None` (with a message) when they are not installed and the
/// test command did not ask for them.
pub async fn start(width: u32, height: u32) -> Option<Browser> {
    let driver_bin = find(&["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]);
    let chromium = find(&["/usr/bin/chromium", "/usr/bin/chromium-browser"]);
    let (Some(driver_bin), Some(chromium)) = (driver_bin, chromium) else {
        assert!(
            std::env::var_os("POSD_REQUIRE_BROWSER").is_none(),
            "POSD_REQUIRE_BROWSER is set but chromium or chromedriver is missing"
        );
        eprintln!("skipped: chromium and chromedriver are not installed (scripts/test-all.sh installs them)");
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let driver = Command::new(driver_bin)
        .arg(format!("--port={port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let profile = tempfile::tempdir().expect("profile dir");
    let caps = serde_json::json!({
        "goog:chromeOptions": {
            "binary": chromium,
            "args": [
                "--headless=new",
                // As root in a container, Chromium's sandbox cannot start.
                "--no-sandbox",
                "--disable-dev-shm-usage",
                "--disable-gpu",
                "--hide-scrollbars",
                "--lang=fr-FR",
                format!("--window-size={width},{height}"),
                format!("--user-data-dir={}", profile.path().display()),
            ]
        }
    });
    let caps = caps.as_object().cloned().expect("capabilities");
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let client = loop {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            Ok(c) => break c,
            Err(e) => {
                assert!(Instant::now() < deadline, "no WebDriver session: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    Some(Browser {
        client,
        driver,
        _profile: profile,
    })
}

impl Browser {
    /// The element `css` names, once it is displayed (within 10 s).
    pub async fn shown(&self, css: &str) -> Element {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(e) = self.client.find(Locator::Css(css)).await {
                if e.is_displayed().await.unwrap_or(false) {
                    return e;
                }
            }
            assert!(Instant::now() < deadline, "{css} not shown");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Touches the element `css` names, once it is displayed.
    pub async fn touch(&self, css: &str) {
        self.shown(css).await.click().await.expect("click");
    }

    /// The text of the element `css` names, once displayed.
    pub async fn text(&self, css: &str) -> String {
        self.shown(css).await.text().await.expect("text")
    }

    /// Waits until the text of `css` satisfies `ok` (within `within`); returns it.
    pub async fn wait_text(
        &self,
        css: &str,
        within: Duration,
        ok: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + within;
        loop {
            let text = match self.client.find(Locator::Css(css)).await {
                Ok(e) => e.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if ok(&text) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "{css}: {text:?} after {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// How many elements `css` names.
    pub async fn count(&self, css: &str) -> usize {
        self.client
            .find_all(Locator::Css(css))
            .await
            .map(|v| v.len())
            .unwrap_or(0)
    }

    /// Types `code` and Enter into whatever has the focus, as a keyboard-wedge scanner does
    /// (WebDriver key actions, back to back; the page itself, not a field, may have the focus).
    pub async fn scan(&self, code: &str) {
        use fantoccini::actions::{InputSource, KeyAction, KeyActions};
        let mut keys = KeyActions::new("scanner".into());
        for c in code
            .chars()
            .chain([char::from(fantoccini::key::Key::Enter)])
        {
            keys = keys
                .then(KeyAction::Down { value: c })
                .then(KeyAction::Up { value: c });
        }
        self.client.perform_actions(keys).await.expect("keys");
    }

    /// Presses keys on the focused element.
    pub async fn keys(&self, keys: &str) {
        let active = self.client.active_element().await.expect("active element");
        active.send_keys(keys).await.expect("keys");
    }

    /// Runs `script` (an async function body calling `done(value)` last argument) in the page.
    pub async fn run_async(&self, script: &str) -> serde_json::Value {
        self.client
            .execute_async(script, Vec::new())
            .await
            .expect("script")
    }

    /// Saves a PNG of the page as `<name>.png` in the directory `POSD_SCREENSHOTS` names
    /// (relative to the repository; `docs/screenshots` for the README's), when it is set: a
    /// test run leaves the repository as it was.
    pub async fn screenshot(&self, name: &str) {
        let Some(dir) = std::env::var_os("POSD_SCREENSHOTS") else {
            return;
        };
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(dir);
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("screenshot");
    }

    /// Ends the session and the driver, once the page is checked to have run without an error
    /// of its own code.
    pub async fn close(mut self) {
        let errors = self
            .client
            .execute("return window.tillErrors || []", Vec::new())
            .await
            .expect("the page's errors");
        assert_eq!(errors, serde_json::json!([]), "the page's scripts failed");
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
    }
}

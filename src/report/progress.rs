//! The progress of an apply on the terminal.
//!
//! - On a terminal (and `--format human` without `-q`/`-v`): one line per
//!   resource with its current step and *that step's* elapsed time, redrawn
//!   in place; a ticker thread redraws a few times a second so the time
//!   ticks while an installer works. After the time, what the installer is
//!   doing now ([`Event::Activity`]: pip's or uv's latest line, or the
//!   native installer's). Downloads show bytes and a rate. Ctrl-C shows
//!   `interrupted`, never `FAILED`.
//! - Otherwise: one plain line per finished step with its own duration;
//!   the activity is not printed.
//! - With `--format json`: one JSON event per line on stdout.
//!
//! A redraw moves the cursor up by the number of lines it drew last time,
//! so every line must take exactly one row: each is cut to the terminal's
//! width (asked at every redraw, so a resize between redraws is followed),
//! counting any non-ASCII character as two columns, and control characters
//! in the installer's text become spaces.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Format, Printer, Verbosity};
use crate::exec::{Event, Progress};

/// The reporter handed to the executor.
pub struct Reporter {
    printer: Printer,
    live: Option<Arc<Mutex<Live>>>,
    ticker: Option<std::thread::JoinHandle<()>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

/// One resource's line.
struct Line {
    address: String,
    state: String,
    /// When its current step started; `None` once it is done.
    since: Option<Instant>,
    /// The duration shown once the step is over.
    shown: Duration,
    /// What the running step's installer is doing now; empty when nothing
    /// is said (cleared when a step starts or ends).
    activity: String,
}

/// The lines of the live display.
#[derive(Default)]
struct Live {
    lines: Vec<Line>,
    drawn: usize,
    /// When the display was last drawn: activity redraws at most every
    /// [`ACTIVITY_REDRAW`].
    last_draw: Option<Instant>,
}

/// An installer printing fast does not redraw for every line; the ticker
/// shows the latest one anyway.
const ACTIVITY_REDRAW: Duration = Duration::from_millis(50);

impl Live {
    fn draw(&mut self) {
        let now = Instant::now();
        let columns = terminal_columns();
        let layout = Layout {
            columns,
            address: self
                .lines
                .iter()
                .map(|l| width_of(&l.address))
                .max()
                .unwrap_or(0)
                .min(ADDRESS_COLUMNS),
        };
        let mut out = String::new();
        if self.drawn > 0 {
            out.push_str(&format!("\x1b[{}A", self.drawn));
        }
        for line in &self.lines {
            let elapsed = line
                .since
                .map_or(line.shown, |since| now.duration_since(since));
            out.push_str("\r\x1b[2K");
            out.push_str(&render_line(line, elapsed, layout));
            out.push('\n');
        }
        self.drawn = self.lines.len();
        self.last_draw = Some(now);
        eprint!("{out}");
    }

    fn line(&mut self, address: &str) -> &mut Line {
        if let Some(i) = self.lines.iter().position(|l| l.address == address) {
            return &mut self.lines[i];
        }
        self.lines.push(Line {
            address: address.to_string(),
            state: String::new(),
            since: None,
            shown: Duration::ZERO,
            activity: String::new(),
        });
        self.lines.last_mut().expect("just pushed")
    }
}

/// The widest address column; longer addresses are cut.
const ADDRESS_COLUMNS: usize = 24;

/// The state column: a step's name and `...`, `done`, `FAILED` or
/// `interrupted` fit; a download's bytes and rate may push the time further
/// right on their line, up to [`STATE_MAX`].
const STATE_COLUMNS: usize = 30;
const STATE_MAX: usize = 40;

/// How wide the columns of one redraw are.
#[derive(Debug, Clone, Copy)]
struct Layout {
    /// The terminal's width.
    columns: usize,
    /// The longest address on the display (at most [`ADDRESS_COLUMNS`]):
    /// the same for every line, so the steps and times stay aligned.
    address: usize,
}

/// `  env.a  install-packages...   3.2s  Collecting numpy`, at most
/// `columns - 1` columns wide (the last column is left empty: some
/// terminals wrap as soon as it is written).
fn render_line(line: &Line, elapsed: Duration, layout: Layout) -> String {
    let mut text = format!(
        "  {:<address$} {:<STATE_COLUMNS$} {:>6.1}s",
        truncate(&line.address, layout.address),
        truncate(&line.state, STATE_MAX),
        elapsed.as_secs_f64(),
        address = layout.address,
    );
    if !line.activity.is_empty() {
        text.push_str("  ");
        text.push_str(&shorten_urls(&line.activity));
    }
    truncate(&text, layout.columns.saturating_sub(1))
}

/// A URL is shown by its last segment: pip names a file downloaded from
/// a `find-links` page by its whole URL (`Downloading
/// http://host/simple/alpha/alpha-1.0-py3-none-any.whl`), which would push
/// the file's name off the line.
fn shorten_urls(text: &str) -> String {
    text.split(' ')
        .map(|word| match word.split_once("://") {
            Some((_, rest)) => rest
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .filter(|last| !last.is_empty())
                .unwrap_or(word),
            None => word,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn width_of(text: &str) -> usize {
    text.chars().map(columns_of).sum()
}

/// The columns a character takes, at most: non-ASCII ones are counted as
/// two (East Asian wide characters take two; counting the others as two
/// only cuts a line a little early).
fn columns_of(c: char) -> usize {
    if c.is_ascii() { 1 } else { 2 }
}

/// `text` cut to `width` columns, `…` marking the cut; control characters
/// become spaces, so that nothing in it moves the cursor.
fn truncate(text: &str, width: usize) -> String {
    let text: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if width_of(&text) <= width {
        return text;
    }
    if width < 2 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        // One column is kept for the `…` (counted as two, like any
        // non-ASCII character).
        if used + columns_of(c) + 2 > width {
            break;
        }
        used += columns_of(c);
        out.push(c);
    }
    out.push('…');
    out
}

/// The width of the terminal on stderr: asked of the terminal, else
/// `COLUMNS`, else 80.
fn terminal_columns() -> usize {
    #[cfg(unix)]
    {
        // SAFETY: TIOCGWINSZ only writes a `winsize` into the pointer
        // given, which points to one.
        let mut size: libc::winsize = unsafe { std::mem::zeroed() };
        let asked = unsafe { libc::ioctl(libc::STDERR_FILENO, libc::TIOCGWINSZ, &mut size) };
        if asked == 0 && size.ws_col > 0 {
            return usize::from(size.ws_col);
        }
    }
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .filter(|&c: &usize| c > 0)
        .unwrap_or(80)
}

impl Reporter {
    pub fn new(printer: Printer) -> Self {
        let live = (printer.format == Format::Human
            && printer.verbosity == Verbosity::Normal
            && std::io::stderr().is_terminal())
        .then(|| Arc::new(Mutex::new(Live::default())));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let ticker = live.as_ref().map(|live| {
            let live = Arc::clone(live);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(200));
                    let mut live = live.lock().unwrap_or_else(|e| e.into_inner());
                    if live.lines.iter().any(|l| l.since.is_some()) {
                        live.draw();
                    }
                }
            })
        });
        Reporter {
            printer,
            live,
            ticker,
            stop,
        }
    }

    fn update(&self, address: &str, state: String, running: bool) {
        let Some(live) = &self.live else { return };
        let mut live = live.lock().unwrap_or_else(|e| e.into_inner());
        let line = live.line(address);
        let now = Instant::now();
        if running {
            if line.since.is_none() {
                line.since = Some(now);
            }
        } else if let Some(since) = line.since.take() {
            line.shown = now.duration_since(since);
        }
        // A new state (started, done, downloading, installed) supersedes
        // what the installer said before it.
        line.activity.clear();
        line.state = state;
        live.draw();
    }

    /// A step starts: its own clock, and nothing said yet.
    fn restart(&self, address: &str) {
        let Some(live) = &self.live else { return };
        let mut live = live.lock().unwrap_or_else(|e| e.into_inner());
        let line = live.line(address);
        line.since = Some(Instant::now());
        line.activity.clear();
    }

    /// What a running step's installer says it is doing.
    fn activity(&self, address: &str, text: &str) {
        let Some(live) = &self.live else { return };
        let mut live = live.lock().unwrap_or_else(|e| e.into_inner());
        let line = live.line(address);
        if line.since.is_none() {
            // Said after its step ended: nothing runs to describe.
            return;
        }
        line.activity = text.to_string();
        if live
            .last_draw
            .is_none_or(|last| last.elapsed() >= ACTIVITY_REDRAW)
        {
            live.draw();
        }
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(ticker) = self.ticker.take() {
            let _ = ticker.join();
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

impl Progress for Reporter {
    fn event(&self, event: &Event) {
        if self.printer.format == Format::Json {
            let _ = self
                .printer
                .json(&serde_json::to_value(event).unwrap_or_default());
            return;
        }
        match event {
            Event::RolledBack { entries, leftovers } => {
                self.printer.info(&format!(
                    "rolled back {entries} change{} to the disk",
                    plural(*entries)
                ));
                for leftover in leftovers {
                    self.printer.warn(&leftover.to_string());
                }
                return;
            }
            Event::Applied { .. } => return,
            _ => {}
        }
        if self.live.is_some() {
            match event {
                Event::StepStarted { address, step } => {
                    self.restart(address);
                    self.update(address, format!("{}...", step.as_str()), true);
                }
                Event::StepFinished { address, step, .. } => {
                    self.update(address, format!("{} done", step.as_str()), false);
                }
                Event::StepFailed {
                    address,
                    step,
                    interrupted,
                    ..
                } => {
                    let what = if *interrupted {
                        "interrupted"
                    } else {
                        "FAILED"
                    };
                    self.update(address, format!("{} {what}", step.as_str()), false);
                }
                Event::Downloading {
                    address,
                    bytes,
                    total,
                } => {
                    let state = download_state(self.live.as_ref(), address, *bytes, *total);
                    self.update(address, state, true);
                }
                Event::Activity { address, text } => self.activity(address, text),
                Event::Installed {
                    address,
                    link_mode,
                    installed,
                    removed,
                    ..
                } => self.update(
                    address,
                    format!(
                        "installed {}{}{}",
                        installed.len(),
                        if removed.is_empty() {
                            String::new()
                        } else {
                            format!(", removed {}", removed.len())
                        },
                        link_mode
                            .as_ref()
                            .map(|m| format!(" ({m})"))
                            .unwrap_or_default()
                    ),
                    true,
                ),
                Event::RolledBack { .. } | Event::Applied { .. } => {}
            }
            return;
        }
        match event {
            Event::StepStarted { address, step } => {
                self.printer
                    .debug(&format!("{address}: {}...", step.as_str()));
            }
            Event::StepFinished {
                address,
                step,
                elapsed_ms,
            } => self.printer.info(&format!(
                "{address}: {} done ({:.2}s)",
                step.as_str(),
                *elapsed_ms as f64 / 1000.0
            )),
            Event::StepFailed {
                address,
                step,
                error,
                interrupted,
                elapsed_ms,
            } => {
                if *interrupted {
                    self.printer.info(&format!(
                        "{address}: {} interrupted ({:.2}s)",
                        step.as_str(),
                        *elapsed_ms as f64 / 1000.0
                    ));
                } else {
                    self.printer.info(&format!(
                        "{address}: {} failed ({:.2}s): {error}",
                        step.as_str(),
                        *elapsed_ms as f64 / 1000.0
                    ));
                }
            }
            Event::Installed {
                address,
                installer,
                link_mode,
                installed,
                removed,
            } => self.printer.debug(&format!(
                "{address}: {installer} installed {} and removed {}{}",
                if installed.is_empty() {
                    "nothing".to_string()
                } else {
                    installed.join(", ")
                },
                if removed.is_empty() {
                    "nothing".to_string()
                } else {
                    removed.join(", ")
                },
                link_mode
                    .as_ref()
                    .map(|m| format!("; files placed by {m}"))
                    .unwrap_or_default()
            )),
            // Plain output is one line per finished step: what the
            // installer says on the way is for the terminal and JSON only.
            Event::Activity { .. }
            | Event::Downloading { .. }
            | Event::RolledBack { .. }
            | Event::Applied { .. } => {}
        }
    }
}

/// `download 12.3/30.1 MB, 45.2 MB/s`: the rate since the download began.
fn download_state(
    live: Option<&Arc<Mutex<Live>>>,
    address: &str,
    bytes: u64,
    total: Option<u64>,
) -> String {
    let elapsed = live
        .and_then(|l| {
            let l = l.lock().unwrap_or_else(|e| e.into_inner());
            l.lines
                .iter()
                .find(|line| line.address == address)
                .and_then(|line| line.since.map(|s| s.elapsed().as_secs_f64()))
        })
        .unwrap_or(0.0);
    let mb = |b: u64| b as f64 / 1_000_000.0;
    let rate = if elapsed > 0.0 {
        format!(", {:.1} MB/s", mb(bytes) / elapsed)
    } else {
        String::new()
    };
    match total {
        Some(total) => format!("download {:.1}/{:.1} MB{rate}", mb(bytes), mb(total)),
        None => format!("download {:.1} MB{rate}", mb(bytes)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(address: &str, state: &str, activity: &str) -> Line {
        Line {
            address: address.into(),
            state: state.into(),
            since: None,
            shown: Duration::from_millis(3_250),
            activity: activity.into(),
        }
    }

    fn columns(text: &str) -> usize {
        width_of(text)
    }

    fn layout(columns: usize) -> Layout {
        Layout {
            columns,
            address: ADDRESS_COLUMNS,
        }
    }

    #[test]
    fn the_activity_follows_the_steps_time() {
        let shown = render_line(
            &line("env.a", "install-packages...", "Collecting numpy"),
            Duration::from_millis(3_250),
            Layout {
                columns: 200,
                address: 5,
            },
        );
        assert_eq!(
            shown,
            "  env.a install-packages...               3.2s  Collecting numpy"
        );
        // A URL is shown by the file it names.
        let shown = render_line(
            &line(
                "env.a",
                "install-packages...",
                "Downloading http://127.0.0.1:8000/wheels/alpha-1.0-py3-none-any.whl (1.2 kB)",
            ),
            Duration::ZERO,
            layout(200),
        );
        assert!(
            shown.ends_with("  Downloading alpha-1.0-py3-none-any.whl (1.2 kB)"),
            "{shown}"
        );
    }

    #[test]
    fn a_line_never_takes_more_than_one_row() {
        let long = "Downloading pandas-2.2.2-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl (13.0 MB)";
        for width in [1, 2, 10, 40, 79, 80, 120] {
            let shown = render_line(
                &line("env.analysis", "install-packages...", long),
                Duration::from_secs(12),
                layout(width),
            );
            assert!(
                columns(&shown) < width.max(1),
                "{width}: {shown:?} takes {}",
                columns(&shown)
            );
        }
        // An address longer than its column is cut too, so the times of
        // every line stay aligned.
        let shown = render_line(
            &line(&format!("env.{}", "x".repeat(40)), "verify...", ""),
            Duration::ZERO,
            layout(200),
        );
        let column = shown[..shown.find("verify").unwrap()].chars().count();
        assert_eq!(column, 2 + 24 + 1, "{shown}");
    }

    #[test]
    fn nothing_in_the_installers_text_moves_the_cursor() {
        let shown = render_line(
            &line("env.a", "install-packages...", "a\tb\rc\x1b[2Ad\u{7}"),
            Duration::ZERO,
            layout(200),
        );
        assert!(!shown.chars().any(char::is_control), "{shown:?}");
        // Wide characters count twice: the cut leaves room for them.
        let wide = render_line(
            &line("env.a", "install-packages...", &"漢".repeat(100)),
            Duration::ZERO,
            layout(100),
        );
        assert!(columns(&wide) < 100, "{}", columns(&wide));
    }
}

//! The progress of an apply on the terminal.
//!
//! - On a terminal (and `--format human` without `-q`/`-v`): one line per
//!   resource with its current step and *that step's* elapsed time, redrawn
//!   in place; a ticker thread redraws a few times a second so the time
//!   ticks while an installer works. After the time, what the installer is
//!   doing now ([`Event::Activity`]: pip's or uv's latest line, or the
//!   native installer's). A download shows a bar, its bytes and its rate
//!   between the time and the activity ([`Event::Downloading`]: one figure
//!   per resource, the sum of its parallel downloads). Ctrl-C shows
//!   `interrupted`, never `FAILED`.
//! - Otherwise: one plain line per finished step with its own duration;
//!   the activity is not printed.
//! - With `--format json`: one JSON event per line on stdout.
//!
//! A redraw moves the cursor up by the number of lines it drew last time,
//! so every line must take exactly one row: each is cut to the terminal's
//! width (asked at every redraw, so a resize between redraws is followed),
//! counting any non-ASCII character as two columns, and control characters
//! in the installer's text become spaces. And the lines drawn, plus the
//! row the cursor rests on, must fit the terminal's height: a line that
//! scrolls off the top can't be reached by the cursor any more, so the
//! next redraw would start too low and leave copies behind. When there are
//! more resources than rows, the running ones are shown first, then the
//! latest finished, and one line says how many more there are. When the
//! apply ends (or rolls back), the display is drawn one last time in full
//! and never again: nothing moves the cursor up after that, so every
//! resource's final line stays on the screen and in the scrollback.

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
    /// The running step's downloads (cleared when a step starts or ends).
    download: Option<Download>,
}

/// What a resource's downloads have received.
#[derive(Debug, Clone, Copy)]
struct Download {
    bytes: u64,
    total: Option<u64>,
    /// The first report: the rate counts from it (bytes already on disk
    /// from an earlier run, reported at once, do not make a rate).
    first: (Instant, u64),
}

/// The lines of the live display.
#[derive(Default)]
struct Live {
    lines: Vec<Line>,
    drawn: usize,
    /// Drawn for the last time: nothing is drawn after (see [`Live::close`]).
    closed: bool,
    /// When the display was last drawn: activity redraws at most every
    /// [`ACTIVITY_REDRAW`].
    last_draw: Option<Instant>,
}

/// An installer printing fast does not redraw for every line; the ticker
/// shows the latest one anyway.
const ACTIVITY_REDRAW: Duration = Duration::from_millis(50);

impl Live {
    /// Redraws the lines in place, as many as fit the terminal's height.
    fn draw(&mut self) {
        let (_, rows) = terminal_size();
        // The cursor rests on the row below the last line.
        self.draw_at_most(rows.saturating_sub(1).max(1));
    }

    /// Draws every line one last time, however many rows they take, and
    /// stops drawing: no later redraw moves the cursor up into lines the
    /// terminal may have scrolled away.
    fn close(&mut self) {
        if self.closed || self.lines.is_empty() {
            self.closed = true;
            return;
        }
        self.draw_at_most(usize::MAX);
        self.closed = true;
    }

    fn draw_at_most(&mut self, room: usize) {
        if self.closed {
            return;
        }
        let now = Instant::now();
        let (columns, _) = terminal_size();
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
        let shown = visible(&self.lines, room);
        let mut out = String::new();
        if self.drawn > 0 {
            out.push_str(&format!("\x1b[{}A", self.drawn));
        }
        let mut drawn = 0;
        for &i in &shown.lines {
            let line = &self.lines[i];
            let elapsed = line
                .since
                .map_or(line.shown, |since| now.duration_since(since));
            out.push_str("\r\x1b[2K");
            out.push_str(&render_line(line, elapsed, now, layout));
            out.push('\n');
            drawn += 1;
        }
        if shown.hidden > 0 {
            out.push_str("\r\x1b[2K");
            out.push_str(&truncate(
                &more_line(shown.hidden, shown.hidden_running),
                columns.saturating_sub(1),
            ));
            out.push('\n');
            drawn += 1;
        }
        // Rows drawn last time and not now (fewer lines fit after a
        // resize) are cleared, and the cursor comes back below the lines.
        let stale = self.drawn.saturating_sub(drawn);
        for _ in 0..stale {
            out.push_str("\r\x1b[2K\n");
        }
        if stale > 0 {
            out.push_str(&format!("\x1b[{stale}A"));
        }
        self.drawn = drawn;
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
            download: None,
        });
        self.lines.last_mut().expect("just pushed")
    }
}

/// Which lines a redraw with room for `room` rows shows.
#[derive(Debug, PartialEq, Eq)]
struct Visible {
    /// Indices into the lines, in their order.
    lines: Vec<usize>,
    /// Lines left out, and how many of those are running: said on one
    /// more row.
    hidden: usize,
    hidden_running: usize,
}

/// All the lines if they fit in `room` rows; else the running ones first
/// (the latest started, if even they do not fit), then the latest
/// finished, in `room - 1` rows and the count of the others in the last.
fn visible(lines: &[Line], room: usize) -> Visible {
    if lines.len() <= room {
        return Visible {
            lines: (0..lines.len()).collect(),
            hidden: 0,
            hidden_running: 0,
        };
    }
    let budget = room.saturating_sub(1);
    let running: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].since.is_some())
        .collect();
    let finished: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].since.is_none())
        .collect();
    let mut shown: Vec<usize> = running.iter().rev().take(budget).copied().collect();
    let left = budget - shown.len();
    shown.extend(finished.iter().rev().take(left));
    shown.sort_unstable();
    let hidden_running = running.len() - running.iter().filter(|i| shown.contains(i)).count();
    Visible {
        hidden: lines.len() - shown.len(),
        hidden_running,
        lines: shown,
    }
}

/// `  … and 7 more (2 running)`.
fn more_line(hidden: usize, running: usize) -> String {
    if running > 0 {
        format!("  … and {hidden} more ({running} running)")
    } else {
        format!("  … and {hidden} more")
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
/// terminals wrap as soon as it is written). A download in progress comes
/// after the time: `[=====>      ] 1.2/3.4 MB 2.1 MB/s`.
fn render_line(line: &Line, elapsed: Duration, now: Instant, layout: Layout) -> String {
    let mut text = format!(
        "  {:<address$} {:<STATE_COLUMNS$} {:>6.1}s",
        truncate(&line.address, layout.address),
        truncate(&line.state, STATE_MAX),
        elapsed.as_secs_f64(),
        address = layout.address,
    );
    if let Some(download) = &line.download {
        text.push_str("  ");
        text.push_str(&download_text(download, now));
    }
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

/// The width and height of the terminal on stderr: each asked of the
/// terminal, else `COLUMNS` and `LINES`, else 80 by 24.
fn terminal_size() -> (usize, usize) {
    let mut asked = (0, 0);
    #[cfg(unix)]
    {
        // SAFETY: TIOCGWINSZ only writes a `winsize` into the pointer
        // given, which points to one.
        let mut size: libc::winsize = unsafe { std::mem::zeroed() };
        let ok = unsafe { libc::ioctl(libc::STDERR_FILENO, libc::TIOCGWINSZ, &mut size) };
        if ok == 0 {
            asked = (usize::from(size.ws_col), usize::from(size.ws_row));
        }
    }
    let or_env = |asked: usize, name: &str, default: usize| {
        Some(asked).filter(|&n| n > 0).unwrap_or_else(|| {
            std::env::var(name)
                .ok()
                .and_then(|c| c.parse().ok())
                .filter(|&c: &usize| c > 0)
                .unwrap_or(default)
        })
    };
    (or_env(asked.0, "COLUMNS", 80), or_env(asked.1, "LINES", 24))
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
        // A new state (started, done, installed) supersedes what the
        // installer said before it, and the step's downloads are over.
        line.activity.clear();
        line.download = None;
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
        line.download = None;
    }

    /// What a running step's downloads have received.
    fn downloading(&self, address: &str, bytes: u64, total: Option<u64>) {
        let Some(live) = &self.live else { return };
        let mut live = live.lock().unwrap_or_else(|e| e.into_inner());
        let line = live.line(address);
        if line.since.is_none() {
            return;
        }
        let first = line.download.map_or((Instant::now(), bytes), |d| d.first);
        line.download = Some(Download {
            bytes,
            total,
            first,
        });
        live.draw();
    }

    /// The last drawing of the live display (see [`Live::close`]).
    fn close(&self) {
        let Some(live) = &self.live else { return };
        live.lock().unwrap_or_else(|e| e.into_inner()).close();
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
        self.close();
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
                // Printed below the display, which must not move after.
                self.close();
                self.printer.info(&format!(
                    "rolled back {entries} change{} to the disk",
                    plural(*entries)
                ));
                for leftover in leftovers {
                    self.printer.warn(&leftover.to_string());
                }
                return;
            }
            Event::Applied { .. } => {
                self.close();
                return;
            }
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
                } => self.downloading(address, *bytes, *total),
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

/// `[=====>      ] 1.2/3.4 MB 2.1 MB/s`: a bar when the total is known,
/// the bytes in the total's unit, and the rate since the first report.
fn download_text(download: &Download, now: Instant) -> String {
    let Download {
        bytes,
        total,
        first: (since, from),
    } = *download;
    let seconds = now.duration_since(since).as_secs_f64();
    let rate = if seconds >= 0.5 && bytes > from {
        let (value, unit) = in_units((bytes - from) as f64 / seconds, None);
        format!(" {value} {unit}/s")
    } else {
        String::new()
    };
    match total {
        Some(total) => {
            let (done, unit) = in_units(bytes as f64, Some(total as f64));
            let (all, _) = in_units(total as f64, Some(total as f64));
            format!("{} {done}/{all} {unit}{rate}", bar(bytes, total))
        }
        None => {
            let (done, unit) = in_units(bytes as f64, None);
            format!("{done} {unit}{rate}")
        }
    }
}

/// The width of a download's bar between its brackets.
const BAR: usize = 20;

/// `[=========>          ]`: `done` of `total`, in [`BAR`] columns.
fn bar(done: u64, total: u64) -> String {
    let filled = if total == 0 {
        BAR
    } else {
        ((done.min(total) as u128 * BAR as u128) / total as u128) as usize
    };
    let mut text = String::with_capacity(BAR + 2);
    text.push('[');
    for i in 0..BAR {
        text.push(match i.cmp(&filled) {
            std::cmp::Ordering::Less => '=',
            std::cmp::Ordering::Equal => '>',
            std::cmp::Ordering::Greater => ' ',
        });
    }
    text.push(']');
    text
}

/// `value` in the decimal unit that suits `scale` (else `value` itself):
/// `("512", "B")`, `("1.2", "kB")`, `("3.4", "MB")`, `("5.6", "GB")`.
fn in_units(value: f64, scale: Option<f64>) -> (String, &'static str) {
    let scale = scale.unwrap_or(value);
    if scale < 1e3 {
        (format!("{value:.0}"), "B")
    } else if scale < 1e6 {
        (format!("{:.1}", value / 1e3), "kB")
    } else if scale < 1e9 {
        (format!("{:.1}", value / 1e6), "MB")
    } else {
        (format!("{:.1}", value / 1e9), "GB")
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
            download: None,
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
            Instant::now(),
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
            Instant::now(),
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
                Instant::now(),
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
            Instant::now(),
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
            Instant::now(),
            layout(200),
        );
        assert!(!shown.chars().any(char::is_control), "{shown:?}");
        // Wide characters count twice: the cut leaves room for them.
        let wide = render_line(
            &line("env.a", "install-packages...", &"漢".repeat(100)),
            Duration::ZERO,
            Instant::now(),
            layout(100),
        );
        assert!(columns(&wide) < 100, "{}", columns(&wide));
    }

    #[test]
    fn a_download_shows_a_bar_its_bytes_and_its_rate_after_the_time() {
        let now = Instant::now();
        let mut downloading = line("env.a", "install-packages...", "downloading a.whl");
        downloading.download = Some(Download {
            bytes: 1_200_000,
            total: Some(4_800_000),
            first: (now - Duration::from_secs(2), 200_000),
        });
        let shown = render_line(&downloading, Duration::from_secs(3), now, layout(200));
        assert!(
            shown
                .ends_with("3.0s  [=====>              ] 1.2/4.8 MB 500.0 kB/s  downloading a.whl"),
            "{shown}"
        );
        // Small files in bytes or kB, by the total; no size known: no bar.
        let at = |bytes, total| {
            download_text(
                &Download {
                    bytes,
                    total,
                    first: (now, bytes),
                },
                now,
            )
        };
        assert_eq!(at(0, Some(700)), "[>                   ] 0/700 B");
        assert_eq!(at(2_345, Some(2_345)), "[====================] 2.3/2.3 kB");
        assert_eq!(at(2_345, None), "2.3 kB");
    }

    #[test]
    fn more_lines_than_rows_show_the_running_ones_and_a_count() {
        let mut lines: Vec<Line> = (0..8)
            .map(|i| line(&format!("env.e{i}"), "create-venv done", ""))
            .collect();
        for i in [1, 5, 6] {
            lines[i].since = Some(Instant::now());
        }
        // They fit: all, in order.
        assert_eq!(visible(&lines, 8).lines, (0..8).collect::<Vec<_>>());
        // Four rows: three lines (the running ones), and the count.
        assert_eq!(
            visible(&lines, 4),
            Visible {
                lines: vec![1, 5, 6],
                hidden: 5,
                hidden_running: 0,
            }
        );
        // Five rows: the latest finished fills the fourth.
        assert_eq!(visible(&lines, 5).lines, vec![1, 5, 6, 7]);
        // Three rows: the latest started of the running ones.
        assert_eq!(
            visible(&lines, 3),
            Visible {
                lines: vec![5, 6],
                hidden: 6,
                hidden_running: 1,
            }
        );
        assert_eq!(more_line(6, 1), "  … and 6 more (1 running)");
    }
}

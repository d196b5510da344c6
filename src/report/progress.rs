//! The progress of an apply on the terminal.
//!
//! - On a terminal (and `--format human` without `-q`/`-v`): one line per
//!   resource with its current step and *that step's* elapsed time, redrawn
//!   in place; a ticker thread redraws a few times a second so the time
//!   ticks while an installer works. Downloads show bytes and a rate.
//!   Ctrl-C shows `interrupted`, never `FAILED`.
//! - Otherwise: one plain line per finished step with its own duration.
//! - With `--format json`: one JSON event per line on stdout.

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
}

/// The lines of the live display.
#[derive(Default)]
struct Live {
    lines: Vec<Line>,
    drawn: usize,
}

impl Live {
    fn draw(&mut self) {
        let now = Instant::now();
        let mut out = String::new();
        if self.drawn > 0 {
            out.push_str(&format!("\x1b[{}A", self.drawn));
        }
        for line in &self.lines {
            let elapsed = line
                .since
                .map_or(line.shown, |since| now.duration_since(since));
            out.push_str(&format!(
                "\r\x1b[2K  {:<24} {:<40} {:>6.1}s\n",
                line.address,
                truncate(&line.state, 40),
                elapsed.as_secs_f64()
            ));
        }
        self.drawn = self.lines.len();
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
        });
        self.lines.last_mut().expect("just pushed")
    }
}

fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_string()
    } else {
        let mut out: String = text.chars().take(width.saturating_sub(1)).collect();
        out.push('…');
        out
    }
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
        line.state = state;
        live.draw();
    }

    fn restart(&self, address: &str) {
        let Some(live) = &self.live else { return };
        let mut live = live.lock().unwrap_or_else(|e| e.into_inner());
        live.line(address).since = Some(Instant::now());
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
            Event::Downloading { .. } | Event::RolledBack { .. } | Event::Applied { .. } => {}
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

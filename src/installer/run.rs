//! Running an installer process: its output kept in a bounded tail, its
//! failure read from that output as it streams, and cancellation.
//!
//! Invariants:
//!
//! - Memory is bounded whatever the child prints: at most [`TAIL_LINES`]
//!   lines of at most [`MAX_LINE`] bytes are kept.
//! - Every line is scanned for the failing requirement as it arrives (see
//!   [`super::failure`]), so a long resolver explanation that scrolls out of
//!   the tail still names it.
//! - stdout and stderr share one pipe, so the tail is in the order written.
//! - The child's exit is seen as it happens (a pidfd, or a thread blocked
//!   in `waitid`; see [`crate::process::Group`]), never rounded up to a
//!   poll interval.
//! - A cancelled run returns within [`crate::process::POLL`] plus the time
//!   to kill: the child runs in its own process group and the whole group
//!   is killed, and the thread reading its output is never waited for after
//!   a kill. A child that exits while something it started still holds its
//!   pipe is not waited for past [`DRAIN_GRACE`] either; whatever is left of
//!   its group is then killed, so nothing a run started outlives it.
//! - Each line can also be heard as it arrives (`on_line`, for the live
//!   progress: what the installer is doing now). The reader thread cannot
//!   borrow the listener (it is never joined after a kill), so lines cross a
//!   bounded channel to a scoped thread that calls it; when that channel is
//!   full a line is dropped for the listener, never for the tail. The
//!   listener hears nothing once the run has returned.
//! - A *gate* ([`Gate`]) holds the child back until the caller is ready
//!   for it to write (apply's restore point): pip starts, imports itself
//!   (most of its start-up) and waits for one byte on its stdin, while the
//!   gate runs; it is told to go only when the gate succeeded. A gate that
//!   fails closes stdin, and the child exits without doing anything (and
//!   its group is killed). The child only ever reads that one byte.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{
    Receiver, RecvTimeoutError, SyncSender, TryRecvError, channel, sync_channel,
};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use super::Kind;
use super::failure::{Finding, scan_line};
use crate::process::{Group, Waited};

/// Lines of output kept for the error message and the outcome.
pub const TAIL_LINES: usize = 40;

/// Longer lines are cut; a line is never buffered beyond this.
const MAX_LINE: usize = 4096;

/// Lines waiting for the listener at most (see the module doc).
const PENDING_LINES: usize = 256;

/// Hears each line of output (cleaned, never blank) as it arrives.
pub type OnLine<'a> = &'a (dyn Fn(&str) + Sync);

/// What must be done before the child may change anything (see the module
/// doc); runs while it starts.
pub type Gate<'a> = &'a dyn Fn() -> std::io::Result<()>;

/// How long the pipes may stay open after the child exited (a grandchild
/// may hold them) before the tail is taken as it is.
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// What a finished run leaves.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub tail: Vec<String>,
    pub finding: Option<Finding>,
    pub pip_missing: bool,
}

/// How a run ended, short of an error starting it.
#[derive(Debug)]
pub enum Ended {
    Exited(Finished),
    Cancelled,
    /// The gate failed: the child was stopped before it changed anything.
    NotReleased(std::io::Error),
}

#[derive(Debug, Default)]
struct Capture {
    tail: VecDeque<String>,
    finding: Option<Finding>,
    pip_missing: bool,
}

impl Capture {
    fn push(&mut self, kind: Kind, line: String) {
        if let Some(found) = scan_line(kind, &line) {
            // The best kind of evidence wins; among equals, the first (the
            // root of a resolver explanation comes before its consequences).
            if self.finding.as_ref().is_none_or(|f| found.rank < f.rank) {
                self.finding = Some(found);
            }
        }
        if line.contains("No module named pip") {
            self.pip_missing = true;
        }
        if self.tail.len() == TAIL_LINES {
            self.tail.pop_front();
        }
        self.tail.push_back(line);
    }
}

/// Runs `command` to completion, or until `cancel` is set; `on_line`, if
/// given, hears each line as it arrives. With a `gate`, the command must
/// wait for one byte on its stdin before it changes anything (see the
/// module doc); it gets it once `gate` succeeded.
pub fn run(
    command: &mut Command,
    kind: Kind,
    cancel: &AtomicBool,
    on_line: Option<OnLine<'_>>,
    gate: Option<Gate<'_>>,
) -> std::io::Result<Ended> {
    if cancel.load(Ordering::SeqCst) {
        return Ok(Ended::Cancelled);
    }
    // One pipe for both streams, as `2>&1` does: the tail then keeps the
    // order the lines were written in, so the final error is last. (Two
    // pipes read by two threads can deliver a late stdout backlog after the
    // error on stderr and push it out of the tail.)
    let (reader, writer) = std::io::pipe()?;
    command
        .stdin(if gate.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(writer.try_clone()?)
        .stderr(writer);
    // Its own process group, so that cancelling kills whatever the
    // installer started (build backends, a wrapper script's children).
    // Ctrl-C does not reach it directly: the caller's handler sets the
    // cancel flag and we kill it here.
    let spawned = Group::spawn(command);
    // The command keeps its copies of the write end until told otherwise;
    // they must go, or the pipe never reports its end.
    command.stdout(Stdio::null()).stderr(Stdio::null());
    let mut group = spawned?;
    if let Some(gate) = gate {
        let stdin = group.child().stdin.take();
        if let Err(e) = gate() {
            // Its stdin closes unread: it exits having changed nothing;
            // dropping the group kills whatever is left of it.
            drop(stdin);
            drop(group);
            return Ok(Ended::NotReleased(e));
        }
        if let Some(mut stdin) = stdin {
            // A child that died meanwhile is judged by its exit below.
            let _ = std::io::Write::write_all(&mut stdin, b"1");
        }
    }

    let capture = Arc::new(Mutex::new(Capture::default()));
    let shared = Arc::clone(&capture);
    let (done, drained) = channel();
    let (lines, heard) = match on_line {
        Some(_) => {
            let (sender, receiver) = sync_channel(PENDING_LINES);
            (Some(sender), Some(receiver))
        }
        None => (None, None),
    };
    // Wakes the forwarder when the run is over (an empty line: the reader
    // never sends one).
    let wake = lines.clone();
    thread::Builder::new()
        .name("beep-installer-output".into())
        .spawn(move || {
            read_lines(reader, kind, &shared, lines.as_ref());
            let _ = done.send(());
        })?;

    let stop = AtomicBool::new(false);
    let waited = thread::scope(|scope| {
        if let (Some(on_line), Some(heard)) = (on_line, heard) {
            let stop = &stop;
            scope.spawn(move || forward(&heard, on_line, stop));
        }
        let waited = group.wait(Some(cancel), None);
        if matches!(waited, Ok(Waited::Exited)) {
            drain(&drained, cancel);
        }
        stop.store(true, Ordering::SeqCst);
        if let Some(wake) = &wake {
            // Full: the forwarder is busy and sees `stop` after this line.
            let _ = wake.try_send(String::new());
        }
        waited
    });
    match waited? {
        Waited::Exited => {}
        // The group is dead and reaped; the reader ends when the pipe
        // closes, and nobody waits for it.
        Waited::Cancelled | Waited::TimedOut => return Ok(Ended::Cancelled),
    }
    let status = group.finish()?;
    let capture = std::mem::take(&mut *capture.lock().unwrap_or_else(PoisonError::into_inner));
    Ok(Ended::Exited(Finished {
        status,
        tail: capture.tail.into(),
        finding: capture.finding,
        pip_missing: capture.pip_missing,
    }))
}

/// Waits for the reader to see the end of the pipe, for at most
/// [`DRAIN_GRACE`] (or until cancelled).
fn drain(drained: &Receiver<()>, cancel: &AtomicBool) {
    let deadline = Instant::now() + DRAIN_GRACE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || cancel.load(Ordering::SeqCst) {
            return;
        }
        match drained.recv_timeout(left.min(crate::process::POLL)) {
            // A reader that panicked (disconnected) lost only output; the
            // status still stands.
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
            Err(RecvTimeoutError::Timeout) => {}
        }
    }
}

/// Hands the lines the reader sends to `on_line` until `stop` is set (and
/// an empty line wakes it), then the ones already waiting.
fn forward(heard: &Receiver<String>, on_line: OnLine<'_>, stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        match heard.recv() {
            Ok(line) if line.is_empty() => {}
            Ok(line) => on_line(&line),
            Err(_) => return,
        }
    }
    loop {
        match heard.try_recv() {
            Ok(line) if line.is_empty() => {}
            Ok(line) => on_line(&line),
            Err(TryRecvError::Empty | TryRecvError::Disconnected) => return,
        }
    }
}

/// Splits a pipe into lines, each cut at [`MAX_LINE`] bytes, and adds them
/// to the capture (and sends them to `lines`, if given, without ever
/// waiting). `\r` ends a line too (progress bars redraw with it).
fn read_lines(
    pipe: impl Read,
    kind: Kind,
    capture: &Mutex<Capture>,
    lines: Option<&SyncSender<String>>,
) {
    let mut reader = BufReader::new(pipe);
    let mut line = Vec::new();
    let push = |line: &mut Vec<u8>| {
        let text = clean(&String::from_utf8_lossy(line));
        line.clear();
        if !text.trim().is_empty() {
            if let Some(lines) = lines {
                // Full (the listener is behind) or gone (the run returned):
                // the listener misses this line; the tail does not.
                let _ = lines.try_send(text.clone());
            }
            capture
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(kind, text);
        }
    };
    loop {
        let buf = match reader.fill_buf() {
            Ok([]) => break,
            Ok(buf) => buf,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            // A broken pipe ends the output; the exit status tells the rest.
            Err(_) => break,
        };
        let (chunk, end_of_line) = match buf.iter().position(|&b| b == b'\n' || b == b'\r') {
            Some(i) => (&buf[..i], Some(i)),
            None => (buf, None),
        };
        let room = MAX_LINE.saturating_sub(line.len());
        line.extend_from_slice(&chunk[..chunk.len().min(room)]);
        let used = match end_of_line {
            Some(i) => {
                push(&mut line);
                i + 1
            }
            None => chunk.len(),
        };
        reader.consume(used);
    }
    if !line.is_empty() {
        push(&mut line);
    }
}

/// Removes terminal escape sequences (a user's `FORCE_COLOR` makes the tools
/// colour piped output) and trailing blanks.
fn clean(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                // CSI: parameters and intermediates, then one final byte.
                for c in chars.by_ref() {
                    if ('\u{40}'..='\u{7e}').contains(&c) {
                        break;
                    }
                }
            } else {
                chars.next();
            }
        } else {
            out.push(c);
        }
    }
    out.truncate(out.trim_end().len());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_are_removed() {
        assert_eq!(
            clean("\u{1b}[31;1merror\u{1b}[0m: No solution found  "),
            "error: No solution found"
        );
    }

    #[test]
    fn each_line_reaches_the_listener_and_the_tail() {
        let text = "Collecting alpha\r\n  Downloading alpha-1.0-py3-none-any.whl (1.2 kB)\n\n   \nInstalling collected packages: alpha";
        let capture = Mutex::new(Capture::default());
        let (sender, receiver) = sync_channel(PENDING_LINES);
        read_lines(
            Box::new(std::io::Cursor::new(text)),
            Kind::Pip,
            &capture,
            Some(&sender),
        );
        drop(sender);
        let heard: Vec<String> = receiver.iter().collect();
        let expected = [
            "Collecting alpha",
            "  Downloading alpha-1.0-py3-none-any.whl (1.2 kB)",
            "Installing collected packages: alpha",
        ];
        assert_eq!(heard, expected);
        assert_eq!(Vec::from(capture.into_inner().unwrap().tail), expected);
    }

    #[test]
    fn a_listener_that_falls_behind_loses_lines_but_not_the_tail() {
        let text: String = (0..PENDING_LINES * 2)
            .map(|i| format!("line {i}\n"))
            .collect();
        let capture = Mutex::new(Capture::default());
        let (sender, receiver) = sync_channel(PENDING_LINES);
        read_lines(
            Box::new(std::io::Cursor::new(text)),
            Kind::Pip,
            &capture,
            Some(&sender),
        );
        drop(sender);
        assert_eq!(receiver.iter().count(), PENDING_LINES);
        let tail = capture.into_inner().unwrap().tail;
        assert_eq!(
            tail.back().map(String::as_str),
            Some(format!("line {}", PENDING_LINES * 2 - 1).as_str())
        );
    }

    #[test]
    fn long_and_many_lines_stay_bounded() {
        let mut text = "x".repeat(MAX_LINE * 3);
        text.push('\n');
        for i in 0..100 {
            text.push_str(&format!("line {i}\r\n"));
        }
        let capture = Mutex::new(Capture::default());
        read_lines(
            Box::new(std::io::Cursor::new(text)),
            Kind::Pip,
            &capture,
            None,
        );
        let capture = capture.into_inner().unwrap();
        assert_eq!(capture.tail.len(), TAIL_LINES);
        assert_eq!(capture.tail.back().map(String::as_str), Some("line 99"));
        assert!(capture.tail.iter().all(|l| l.len() <= MAX_LINE));
    }
}

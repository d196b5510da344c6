//! apply's progress as the user sees it. On a real terminal (`script`,
//! util-linux, gives `apply` a pty; a tiny emulator below replays what it
//! drew): the running step's own time ticks and the line says what the
//! installer is doing now, taken from pip's output as it streams; packages
//! come from the tests' HTTP server, which sends each wheel slowly so that
//! the install lasts long enough to be watched. Without a terminal: one
//! plain line per finished step, nothing of the installer's. With `--format
//! json`: the same activity as `activity` events, from uv and from the
//! native installer too.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::applied::{Project, base_python};
use crate::common::{require, stderr, stdout, tool};
use crate::server::Server;

/// The terminal's width, given to `apply` through `COLUMNS` (`script`'s
/// pty has no size when its own input is not a terminal).
const COLUMNS: usize = 100;

/// What a terminal shows: the rows drawn, replayed from the bytes written.
/// Only what the progress display uses is understood: `\r`, `\n`, cursor
/// up (`ESC[nA`) and erase line (`ESC[2K`); other escape sequences are
/// skipped.
#[derive(Default)]
struct Screen {
    rows: Vec<Vec<char>>,
    row: usize,
    col: usize,
    /// Every row as it was when the cursor left it by a newline: the
    /// history of each redraw.
    drawn: Vec<String>,
}

impl Screen {
    fn replay(bytes: &[u8]) -> Screen {
        let text = String::from_utf8_lossy(bytes);
        let mut screen = Screen::default();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\r' => screen.col = 0,
                '\n' => {
                    let row = screen.current().iter().collect::<String>();
                    screen.drawn.push(row);
                    screen.row += 1;
                    screen.col = 0;
                }
                '\u{1b}' => {
                    if chars.peek() != Some(&'[') {
                        chars.next();
                        continue;
                    }
                    chars.next();
                    let mut param = String::new();
                    let mut last = None;
                    for c in chars.by_ref() {
                        if ('\u{40}'..='\u{7e}').contains(&c) {
                            last = Some(c);
                            break;
                        }
                        param.push(c);
                    }
                    match last {
                        Some('A') => {
                            let n: usize = param.parse().unwrap_or(1);
                            screen.row = screen.row.saturating_sub(n);
                        }
                        Some('K') if param == "2" => screen.current().clear(),
                        _ => {}
                    }
                }
                c => {
                    let col = screen.col;
                    let row = screen.current();
                    if row.len() <= col {
                        row.resize(col + 1, ' ');
                    }
                    row[col] = c;
                    screen.col += 1;
                }
            }
        }
        screen
    }

    fn current(&mut self) -> &mut Vec<char> {
        if self.rows.len() <= self.row {
            self.rows.resize(self.row + 1, Vec::new());
        }
        &mut self.rows[self.row]
    }

    /// The screen as it was left, trailing blanks removed.
    fn text(&self) -> String {
        let mut out = String::new();
        for row in &self.rows {
            out.push_str(row.iter().collect::<String>().trim_end());
            out.push('\n');
        }
        out
    }
}

/// Every `1.2s`-like time replaced by `N.Ns`: the rendering, not the
/// durations, is what the snapshot checks.
fn without_times(text: &str) -> String {
    text.split('\n')
        .map(|line| {
            line.split(' ')
                .map(|word| match word.strip_suffix('s') {
                    Some(n) if n.contains('.') && n.parse::<f64>().is_ok() => "N.Ns",
                    _ => word,
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// One progress row: `  ADDRESS  STATE  TIME  ACTIVITY`.
struct Row {
    address: String,
    state: String,
    time: String,
    activity: String,
}

fn progress_row(line: &str) -> Option<Row> {
    let rest = line.strip_prefix("  ")?;
    let mut words = rest.split_whitespace();
    let address = words.next()?.to_string();
    if !address.starts_with("env.") && !address.starts_with("runtime.") {
        return None;
    }
    let state = words.next()?.to_string();
    // `install-packages...` is one word; `verify done` two.
    let (state, time) = match words.next()? {
        word if word.ends_with('s') && word[..word.len() - 1].parse::<f64>().is_ok() => {
            (state, word.to_string())
        }
        word => (format!("{state} {word}"), words.next()?.to_string()),
    };
    Some(Row {
        address,
        state,
        time,
        activity: words.collect::<Vec<_>>().join(" "),
    })
}

/// Environment `a` of `p` gets `gamma` and `alpha` with pip, from the
/// `find-links` page of `server`.
fn serve_packages(p: &Project, server: &Server) {
    let text = format!(
        "version = 1\n\n[settings]\ninstaller = \"pip\"\nfind-links = [\"{}\"]\noffline = true\n\n\
         [runtimes.host]\nsource = \"system\"\npath = \"{}\"\ndefault = true\n\n\
         [environments.a]\npath = \".venvs/a\"\npackages = [\"gamma\", \"alpha\"]\n",
        server.base(),
        base_python().display()
    );
    std::fs::write(p.path("beep-python.toml"), text).unwrap();
}

/// Runs `apply --auto-approve` in `p` on a terminal `COLUMNS` wide and
/// returns its exit code and what the terminal received.
fn apply_on_a_terminal(p: &Project, script: &std::path::Path) -> (Option<i32>, Vec<u8>) {
    let command = format!("{} apply --auto-approve", env!("CARGO_BIN_EXE_beep-python"));
    let out = Command::new(script)
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .current_dir(p.dir.path())
        .env("BEEP_PYTHON_HOME", p.home())
        .env("NO_COLOR", "1")
        .env("TERM", "xterm")
        .env("COLUMNS", COLUMNS.to_string())
        .env("PIP_NO_INDEX", "1")
        .env("PIP_CONFIG_FILE", "/dev/null")
        .env("PIP_NO_CACHE_DIR", "1")
        .env_remove("PIP_FIND_LINKS")
        .env_remove("BEEP_PYTHON_FAILPOINTS")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    (out.status.code(), out.stdout)
}

#[test]
fn on_a_terminal_the_running_step_ticks_and_says_what_pip_is_doing() {
    let script = require!("`script` (util-linux)", tool("script"));
    let p = Project::new();
    // Each wheel takes over a second to arrive: the install lasts long
    // enough for several redraws.
    let server = Server::folder(&p.path("wheels"), Duration::from_millis(1500));
    serve_packages(&p, &server);

    let (code, bytes) = apply_on_a_terminal(&p, &script);
    let screen = Screen::replay(&bytes);
    let shown = String::from_utf8_lossy(&bytes);
    assert_eq!(code, Some(0), "{shown}");
    assert!(p.imports("gamma") && p.imports("alpha"), "{shown}");

    // Every row fits the terminal, so redraws stay in place.
    for row in &screen.drawn {
        assert!(
            row.chars().count() < COLUMNS,
            "a row wider than the terminal ({COLUMNS}):\n{row}"
        );
    }
    let installing: Vec<Row> = screen
        .drawn
        .iter()
        .filter_map(|line| progress_row(line))
        .filter(|row| row.address == "env.a" && row.state == "install-packages...")
        .collect();
    // The step's own time ticks while pip works: the same running step
    // was shown with different times.
    let mut times: Vec<&str> = installing.iter().map(|r| r.time.as_str()).collect();
    times.dedup();
    assert!(
        times.len() >= 2,
        "the running step's time did not tick: {times:?}\n{shown}"
    );
    // And the line says what pip is doing, naming the package.
    let said: Vec<&str> = installing.iter().map(|r| r.activity.as_str()).collect();
    assert!(
        said.iter().any(|a| a.contains("gamma")) && said.iter().any(|a| a.contains("alpha")),
        "no activity naming the packages: {said:?}\n{shown}"
    );
    // Once done, the installer's words are gone from the line.
    let last = screen.text();
    let final_row = last
        .lines()
        .filter_map(progress_row)
        .find(|row| row.address == "env.a")
        .unwrap_or_else(|| panic!("no progress row left on the screen:\n{last}"));
    assert_eq!(final_row.activity, "", "{last}");
    let from_progress = last
        .lines()
        .skip_while(|line| progress_row(line).is_none())
        .collect::<Vec<_>>()
        .join("\n");
    insta::assert_snapshot!("terminal_after_apply", without_times(&from_progress));
}

#[test]
fn without_a_terminal_only_finished_steps_are_printed() {
    let p = Project::new();
    let out = p.run(&["apply", "--auto-approve"]);
    let err = stderr(&out);
    assert!(
        err.contains("env.a: install-packages done ("),
        "one line per finished step:\n{err}"
    );
    for line in err.lines() {
        assert!(
            line.starts_with("env.")
                || line.starts_with("runtime.")
                || line.starts_with("Apply complete!"),
            "a line that is not a finished step: {line:?}\n{err}"
        );
    }
}

/// The activity of one apply, from its JSON event stream.
fn activity_of(p: &Project) -> Vec<String> {
    let out = p.run(&["apply", "--auto-approve", "--format", "json"]);
    stdout(&out)
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .filter(|event| event["event"] == "activity")
        .map(|event| {
            assert_eq!(event["address"], "env.a", "{event}");
            event["text"].as_str().unwrap().to_string()
        })
        .collect()
}

#[test]
fn uv_output_reaches_the_json_stream_as_activity() {
    require!("`uv` on PATH", tool("uv"));
    let p = Project::new();
    let text = std::fs::read_to_string(p.path("beep-python.toml")).unwrap();
    std::fs::write(
        p.path("beep-python.toml"),
        text.replace("[settings]\n", "[settings]\ninstaller = \"uv\"\n"),
    )
    .unwrap();
    let said = activity_of(&p);
    // uv's own words, as it printed them.
    assert!(said.iter().any(|t| t == "+ gamma==3.1.0"), "{said:?}");
}

#[test]
fn the_native_installer_says_which_wheel_it_unpacks_and_links() {
    let p = Project::new();
    p.run(&["lock"]);
    let said = activity_of(&p);
    assert!(
        said.iter()
            .any(|t| t == "unpacking gamma-3.1.0-py3-none-any.whl"),
        "{said:?}"
    );
    assert!(said.iter().any(|t| t == "linking gamma 3.1.0"), "{said:?}");
}

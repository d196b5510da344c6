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
use crate::wheels::sha256_hex;

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

/// Writes `p`'s manifest with environment `a` locked, through a
/// `pylock.toml`, to every wheel of `p`'s wheelhouse by its URL on
/// `server` (no `find-links`, network on): the native installer downloads
/// each of them. Locks, and returns the sum of the wheels' sizes.
fn lock_to_served_wheels(p: &Project, server: &Server) -> u64 {
    let mut wheels: Vec<std::path::PathBuf> = std::fs::read_dir(p.path("wheels"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "whl"))
        .collect();
    wheels.sort();
    assert!(wheels.len() >= 2, "{wheels:?}");
    let mut pylock = String::from("lock-version = \"1.0\"\ncreated-by = \"a-test\"\n");
    let mut size = 0;
    for wheel in &wheels {
        let file = wheel.file_name().unwrap().to_str().unwrap();
        let mut parts = file.split('-');
        let (name, version) = (parts.next().unwrap(), parts.next().unwrap());
        pylock.push_str(&format!(
            "\n[[packages]]\nname = \"{name}\"\nversion = \"{version}\"\nwheels = [{{ url = \"{}{file}\", hashes = {{ sha256 = \"{}\" }} }}]\n",
            server.base(),
            sha256_hex(wheel)
        ));
        size += std::fs::metadata(wheel).unwrap().len();
    }
    std::fs::write(p.path("pylock.toml"), pylock).unwrap();
    std::fs::write(
        p.path("beep-python.toml"),
        format!(
            "version = 1\n\n[runtimes.host]\nsource = \"system\"\npath = \"{}\"\ndefault = true\n\n\
             [environments.a]\npath = \".venvs/a\"\npylock = \"pylock.toml\"\n",
            base_python().display()
        ),
    )
    .unwrap();
    p.run(&["lock"]);
    size
}

/// The `downloading` events of one apply's JSON stream, as (address,
/// bytes, total).
fn downloads_of(out: &std::process::Output) -> Vec<(String, u64, Option<u64>)> {
    stdout(out)
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .filter(|event| event["event"] == "downloading")
        .map(|event| {
            (
                event["address"].as_str().unwrap().to_string(),
                event["bytes"].as_u64().unwrap(),
                event["total"].as_u64(),
            )
        })
        .collect()
}

#[test]
fn a_locked_environments_parallel_wheel_downloads_count_up_to_their_sum_in_json() {
    let p = Project::new();
    let server = Server::folder(&p.path("wheels"), Duration::from_millis(600));
    let size = lock_to_served_wheels(&p, &server);

    let out = p.run(&["apply", "--auto-approve", "--format", "json"]);
    assert!(p.imports("gamma") && p.imports("alpha"), "{}", stderr(&out));
    let wheels_fetched = server
        .requests()
        .iter()
        .filter(|r| r.path.ends_with(".whl"))
        .count();
    assert_eq!(wheels_fetched, 2, "{:?}", server.requests());
    let seen = downloads_of(&out);
    assert!(seen.len() >= 3, "{seen:?}");
    for (address, bytes, total) in &seen {
        assert_eq!(address, "env.a", "{seen:?}");
        let total = total.unwrap_or_else(|| panic!("the server sends sizes: {seen:?}"));
        assert!(*bytes <= total, "{seen:?}");
    }
    // One figure for both wheels: it only grows, and ends at their sum.
    for pair in seen.windows(2) {
        assert!(pair[0].1 <= pair[1].1, "went back: {seen:?}");
    }
    assert_eq!(
        seen.last().unwrap(),
        &("env.a".to_string(), size, Some(size))
    );

    // Wheels in the cache are not downloaded, and count for nothing.
    let again = p.run(&[
        "apply",
        "--auto-approve",
        "--format",
        "json",
        "--replace",
        "env.a",
    ]);
    assert!(p.imports("gamma"), "{}", stderr(&again));
    assert_eq!(downloads_of(&again), [], "{}", stdout(&again));
}

/// `n` bytes as the progress display writes them beside a total of `n`:
/// `("512", "B")`, `("2.3", "kB")`.
fn label(n: u64) -> (String, &'static str) {
    match n {
        0..1_000 => (n.to_string(), "B"),
        1_000..1_000_000 => (format!("{:.1}", n as f64 / 1e3), "kB"),
        _ => (format!("{:.1}", n as f64 / 1e6), "MB"),
    }
}

#[test]
fn on_a_terminal_a_locked_environments_downloads_draw_one_byte_bar() {
    let script = require!("`script` (util-linux)", tool("script"));
    let p = Project::new();
    // Each wheel takes 1.5 s to arrive: the bar is drawn part-way.
    let server = Server::folder(&p.path("wheels"), Duration::from_millis(1500));
    let size = lock_to_served_wheels(&p, &server);

    let (code, bytes) = apply_on_a_terminal(&p, &script);
    let screen = Screen::replay(&bytes);
    let shown = String::from_utf8_lossy(&bytes);
    assert_eq!(code, Some(0), "{shown}");
    assert!(p.imports("gamma") && p.imports("alpha"), "{shown}");

    // The bar follows the step's time on the environment's line:
    // `[=====>     ] DONE/TOTAL UNIT`.
    let bars: Vec<(String, String)> = screen
        .drawn
        .iter()
        .filter_map(|line| progress_row(line))
        .filter(|row| row.address == "env.a" && row.state == "install-packages...")
        .filter_map(|row| {
            let (bar, rest) = row.activity.strip_prefix('[')?.split_once("] ")?;
            let figures = rest.split_whitespace().next()?.to_string();
            Some((bar.to_string(), figures))
        })
        .collect();
    let (all, unit) = label(size);
    assert!(
        bars.iter()
            .any(|(bar, figures)| !bar.contains(' ') && *figures == format!("{all}/{all}")),
        "no full bar of both wheels' {all} {unit}: {bars:?}\n{shown}"
    );
    assert!(
        shown.contains(&format!("{all}/{all} {unit}")),
        "the unit: {shown}"
    );
    // Drawn part-way too: a bar not yet full, and several figures.
    assert!(
        bars.iter().any(|(bar, _)| bar.contains(' ')),
        "{bars:?}\n{shown}"
    );
    let mut figures: Vec<&str> = bars.iter().map(|(_, f)| f.as_str()).collect();
    figures.dedup();
    assert!(figures.len() >= 3, "{figures:?}\n{shown}");
    // Once the step is over, its line has no bar left.
    let last = screen.text();
    let final_row = last
        .lines()
        .filter_map(progress_row)
        .find(|row| row.address == "env.a")
        .unwrap_or_else(|| panic!("no progress row left on the screen:\n{last}"));
    assert_eq!(final_row.activity, "", "{last}");
}

/// Runs `apply --auto-approve` in `p` inside tmux, in a window `rows`
/// high and [`COLUMNS`] wide, and returns its exit code and everything
/// the terminal holds at the end: the scrollback, then the screen.
fn apply_in_tmux(p: &Project, tmux: &std::path::Path, rows: usize) -> (i32, String) {
    let socket = p.path("tmux.sock");
    let status = p.path("apply.status");
    let command = format!(
        "{} apply --auto-approve; echo $? > {}; exec sleep 600",
        env!("CARGO_BIN_EXE_beep-python"),
        status.display()
    );
    let tmux_cmd = || {
        let mut cmd = Command::new(tmux);
        cmd.arg("-S").arg(&socket).args(["-f", "/dev/null"]);
        cmd
    };
    let started = tmux_cmd()
        .args(["new-session", "-d", "-x", &COLUMNS.to_string(), "-y"])
        .arg(rows.to_string())
        .arg(&command)
        .current_dir(p.dir.path())
        .env("BEEP_PYTHON_HOME", p.home())
        .env("NO_COLOR", "1")
        .env("PIP_NO_INDEX", "1")
        .env("PIP_CONFIG_FILE", "/dev/null")
        .env_remove("BEEP_PYTHON_FAILPOINTS")
        .env_remove("TMUX")
        .status()
        .unwrap();
    assert!(started.success(), "tmux did not start");
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    let code = loop {
        if let Some(code) = std::fs::read_to_string(&status)
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
        {
            break code;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "apply did not finish in tmux"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let captured = tmux_cmd()
        .args(["capture-pane", "-p", "-S", "-", "-E", "-"])
        .output()
        .unwrap();
    let _ = tmux_cmd().arg("kill-server").status();
    (code, String::from_utf8_lossy(&captured.stdout).into_owned())
}

#[test]
fn a_display_taller_than_the_terminal_leaves_each_line_once_and_in_place() {
    let tmux = require!("`tmux`", tool("tmux"));
    let p = Project::new();
    let names: Vec<String> = (0..8).map(|i| format!("e{i}")).collect();
    let body: String = names
        .iter()
        .map(|n| format!("\n[environments.{n}]\npath = \".venvs/{n}\"\n"))
        .collect();
    p.manifest(&body);

    // Six rows (five for the pane, under tmux's status line): nine
    // resources (the runtime and eight environments) do not fit.
    let (code, captured) = apply_in_tmux(&p, &tmux, 6);
    assert_eq!(code, 0, "{captured}");
    let addresses: Vec<String> = std::iter::once("runtime.host".to_string())
        .chain(names.iter().map(|n| format!("env.{n}")))
        .collect();
    for address in &addresses {
        // A progress line: two spaces, the address, its state and time.
        let rows: Vec<&str> = captured
            .lines()
            .filter(|line| progress_row(line).is_some_and(|row| row.address == *address))
            .collect();
        assert_eq!(
            rows.len(),
            1,
            "`{address}` is not on exactly one line:\n{captured}"
        );
        // Nothing else names it at another indentation (a redraw that
        // started in the wrong row leaves such pieces behind).
        let elsewhere: Vec<&str> = captured
            .lines()
            .filter(|line| {
                line.split_whitespace().any(|w| w == address)
                    && progress_row(line).is_none()
                    && !line.trim_start().starts_with(['+', '-', '~'])
            })
            .collect();
        assert_eq!(elsewhere, Vec::<&str>::new(), "{captured}");
    }
    // The last drawing shows every line: the count of hidden ones is gone,
    // and the summary comes after the lines.
    assert!(!captured.contains("more"), "{captured}");
    let lines: Vec<&str> = captured.lines().collect();
    let last_row = lines
        .iter()
        .rposition(|line| progress_row(line).is_some())
        .unwrap();
    let complete = lines
        .iter()
        .position(|line| line.starts_with("Apply complete!"))
        .unwrap_or_else(|| panic!("{captured}"));
    assert!(complete > last_row, "{captured}");
}

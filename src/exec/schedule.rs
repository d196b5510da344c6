//! The scheduler: runs a step graph with up to `jobs` steps at once, each
//! as soon as the steps before it have succeeded.
//!
//! On the first failure, or once `cancel` is set, no new step starts; the
//! steps already running finish (their own cancellation makes them quick),
//! and the first failure is returned. Workers are scoped threads that
//! outlive every child process their steps start (which matters for
//! `PR_SET_PDEATHSIG`, bound to the spawning thread).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use petgraph::graph::{DiGraph, NodeIndex};

/// How a run of the graph ended.
pub enum Outcome<E> {
    Done,
    /// The first step that failed, with its error.
    Failed(NodeIndex, E),
    /// Cancelled before every step ran.
    Interrupted,
}

/// Hooks around each step, for progress.
pub trait Observer<S, E>: Sync {
    fn started(&self, step: &S);
    fn finished(&self, step: &S, elapsed: Duration);
    fn failed(&self, step: &S, error: &E, elapsed: Duration);
}

/// Runs `graph` with `run`, up to `jobs` steps at once.
pub fn run<S: Sync, E: Send>(
    graph: &DiGraph<S, ()>,
    jobs: usize,
    cancel: &AtomicBool,
    observer: &dyn Observer<S, E>,
    run: &(dyn Fn(&S) -> Result<(), E> + Sync),
) -> Outcome<E> {
    struct State<E> {
        ready: VecDeque<NodeIndex>,
        waiting_on: Vec<usize>,
        running: usize,
        done: usize,
        failure: Option<(NodeIndex, E)>,
    }
    let mut waiting_on = vec![0; graph.node_count()];
    for edge in graph.raw_edges() {
        waiting_on[edge.target().index()] += 1;
    }
    let ready: VecDeque<NodeIndex> = graph
        .node_indices()
        .filter(|n| waiting_on[n.index()] == 0)
        .collect();
    let state = Mutex::new(State {
        ready,
        waiting_on,
        running: 0,
        done: 0,
        failure: None,
    });
    let wake = Condvar::new();
    let total = graph.node_count();

    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1).min(total.max(1)) {
            scope.spawn(|| {
                loop {
                    let node = {
                        let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
                        loop {
                            // Idle workers leave on a failure or Ctrl-C; the
                            // ones running a step finish it first.
                            let stop = s.failure.is_some() || cancel.load(Ordering::SeqCst);
                            if s.done == total || stop {
                                wake.notify_all();
                                return;
                            }
                            if let Some(n) = s.ready.pop_front() {
                                s.running += 1;
                                break n;
                            }
                            if s.running == 0 {
                                // Nothing ready and nothing running: the
                                // rest can never become ready.
                                return;
                            }
                            s = wake
                                .wait_timeout(s, Duration::from_millis(100))
                                .unwrap_or_else(|e| e.into_inner())
                                .0;
                        }
                    };
                    let step = &graph[node];
                    observer.started(step);
                    let started = Instant::now();
                    let result = run(step);
                    let elapsed = started.elapsed();
                    let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
                    s.running -= 1;
                    match result {
                        Ok(()) => {
                            observer.finished(step, elapsed);
                            s.done += 1;
                            for next in graph.neighbors(node) {
                                s.waiting_on[next.index()] -= 1;
                                if s.waiting_on[next.index()] == 0 {
                                    s.ready.push_back(next);
                                }
                            }
                        }
                        Err(error) => {
                            observer.failed(step, &error, elapsed);
                            if s.failure.is_none() {
                                s.failure = Some((node, error));
                            }
                        }
                    }
                    wake.notify_all();
                }
            });
        }
    });
    let state = state.into_inner().unwrap_or_else(|e| e.into_inner());
    match state.failure {
        Some((node, error)) => Outcome::Failed(node, error),
        None if state.done < total => Outcome::Interrupted,
        None => Outcome::Done,
    }
}

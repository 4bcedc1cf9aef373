//! The live console (`cloudtaskctl` on a terminal, or `cloudtaskctl tui`).
//!
//! - [`app`]: state and the pure `update(msg) -> cmds`;
//! - [`view`]: pure rendering;
//! - [`keys`]: the key registry;
//! - [`effects`]: API calls and streams, reporting back as messages;
//! - this module: the terminal (one restore path for every exit), the input reader, the loop.

pub mod app;
pub mod effects;
pub mod keys;
pub mod view;

#[cfg(test)]
mod tests;

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc as std_mpsc};
use std::time::Duration;

use crossterm::event::{self, Event as TermEvent, KeyEventKind};
use crossterm::terminal::{
    self, BeginSynchronizedUpdate, EndSynchronizedUpdate, EnterAlternateScreen,
    LeaveAlternateScreen,
};
use crossterm::{cursor, execute};
use jiff::Timestamp;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use tokio::sync::mpsc;

use crate::client::{Client, Exit, Failure, Result};
use app::{App, Cmd, Msg};

/// Bounded: a burst of events waits instead of growing memory.
const CHANNEL: usize = 1024;
/// Frames are drawn at most this often, and only when something changed.
const FRAME: Duration = Duration::from_millis(33);

static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Frame trace for benchmarks: with `CLOUDTASK_TUI_TRACE=FILE`, each frame drawn after a key
/// appends `key_to_frame_us N`, and each request to the center appends `request PATH`.
static TRACE: std::sync::OnceLock<Option<std::sync::Mutex<std::fs::File>>> =
    std::sync::OnceLock::new();

pub fn trace(line: std::fmt::Arguments<'_>) {
    let t = TRACE.get_or_init(|| {
        let path = std::env::var_os("CLOUDTASK_TUI_TRACE")?;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .ok()
            .map(std::sync::Mutex::new)
    });
    if let Some(f) = t {
        let mut f = f.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(f, "{line}");
    }
}

/// Puts the terminal back: raw mode off, main screen, cursor shown, paste mode off. Safe to
/// call any number of times, from any exit path.
pub fn restore() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        let mut out = std::io::stdout();
        let _ = execute!(
            out,
            EndSynchronizedUpdate,
            event::DisableBracketedPaste,
            LeaveAlternateScreen,
            cursor::Show
        );
        let _ = terminal::disable_raw_mode();
        let _ = out.flush();
    }
}

fn enter() -> std::io::Result<()> {
    terminal::enable_raw_mode()?;
    ACTIVE.store(true, Ordering::SeqCst);
    execute!(
        std::io::stdout(),
        EnterAlternateScreen,
        event::EnableBracketedPaste,
        cursor::Hide
    )
}

/// Reads terminal input on its own thread. `pause` stops it (acknowledged) so an editor
/// started meanwhile gets every keystroke.
struct Input {
    pause: Arc<AtomicBool>,
    paused_ack: std_mpsc::Receiver<()>,
}

impl Input {
    fn start(tx: mpsc::Sender<Msg>) -> Input {
        let pause = Arc::new(AtomicBool::new(false));
        let (ack_tx, ack_rx) = std_mpsc::channel();
        let p = pause.clone();
        std::thread::spawn(move || {
            loop {
                if p.load(Ordering::SeqCst) {
                    let _ = ack_tx.send(());
                    while p.load(Ordering::SeqCst) {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    continue;
                }
                match event::poll(Duration::from_millis(50)) {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(_) => return,
                }
                let msg = match event::read() {
                    // Only presses: releases and repeats would double keys on some terminals.
                    Ok(TermEvent::Key(k)) if k.kind == KeyEventKind::Press => Msg::Key(k),
                    Ok(TermEvent::Resize(w, h)) => Msg::Resize(w, h),
                    Ok(TermEvent::Paste(s)) => Msg::Paste(s),
                    Ok(_) => continue,
                    Err(_) => return,
                };
                if tx.blocking_send(msg).is_err() {
                    return;
                }
            }
        });
        Input {
            pause,
            paused_ack: ack_rx,
        }
    }

    /// Stops reading and waits until the reader has stopped.
    fn pause(&self) {
        self.pause.store(true, Ordering::SeqCst);
        let _ = self.paused_ack.recv_timeout(Duration::from_secs(2));
    }

    fn resume(&self) {
        self.pause.store(false, Ordering::SeqCst);
    }
}

/// Runs the console until the user quits, a signal arrives, or the terminal goes away.
pub async fn run(client: Client, server: &str, readonly: bool) -> Result<()> {
    if !(std::io::stdout().is_terminal() && std::io::stdin().is_terminal()) {
        return Err(Failure::new(
            Exit::Failure,
            "the console needs a terminal; for scripts use the subcommands (cloudtaskctl --help)",
        ));
    }
    let mono = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        prev(info);
    }));
    enter()?;
    let result = run_loop(client, server, readonly, mono).await;
    restore();
    result
}

async fn run_loop(client: Client, server: &str, readonly: bool, mono: bool) -> Result<()> {
    let mut term = Terminal::new(CrosstermBackend::new(std::io::stdout()))?;
    let (tx, mut rx) = mpsc::channel::<Msg>(CHANNEL);
    let input = Input::start(tx.clone());
    tokio::spawn(effects::follow_events(client.clone(), tx.clone()));
    let mut app = App::new(server, readonly, mono, Timestamp::now());
    if let Ok((w, h)) = terminal::size() {
        app.size = (w, h);
    }
    let first = app.start();
    spawn_all(&client, &tx, first);

    use tokio::signal::unix::{SignalKind, signal};
    let mut term_sig = signal(SignalKind::terminate())?;
    let mut hup = signal(SignalKind::hangup())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut frame = tokio::time::interval(FRAME);
    frame.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    #[cfg(debug_assertions)]
    let test_panic = std::env::var_os("CLOUDTASK_TUI_TEST_PANIC").is_some();
    // When the oldest key not yet shown on screen arrived.
    let mut key_at: Option<std::time::Instant> = None;
    loop {
        tokio::select! {
            Some(msg) = rx.recv() => {
                if matches!(msg, Msg::Key(_)) && key_at.is_none() {
                    key_at = Some(std::time::Instant::now());
                }
                #[cfg(debug_assertions)]
                if test_panic && matches!(&msg, Msg::Key(k) if k.code == crossterm::event::KeyCode::F(12)) {
                    panic!("test panic requested (debug builds only)");
                }
                // Apply everything already waiting, then filter, sort and draw once.
                app.batching = true;
                let mut cmds = app.update(msg);
                while let Ok(more) = rx.try_recv() {
                    cmds.extend(app.update(more));
                }
                app.end_batch();
                for cmd in cmds {
                    match cmd {
                        Cmd::Edit { task } => edit(&mut term, &input, &client, &mut app, &task).await,
                        // The loop owns the terminal: the clipboard sequence goes between frames.
                        Cmd::Copy { text } => {
                            let _ = write!(term.backend_mut(), "\x1b]52;c;{}\x07", base64(text.as_bytes()));
                            let _ = term.backend_mut().flush();
                        }
                        other => spawn_all(&client, &tx, vec![other]),
                    }
                }
                if app.quit {
                    return Ok(());
                }
            }
            _ = tick.tick() => { app.update(Msg::Tick(Timestamp::now())); }
            _ = frame.tick() => {
                if app.dirty {
                    draw(&mut term, &app)?;
                    app.dirty = false;
                    if let Some(k) = key_at.take() {
                        trace(format_args!("key_to_frame_us {}", k.elapsed().as_micros()));
                    }
                }
            }
            _ = term_sig.recv() => return Ok(()),
            _ = hup.recv() => return Ok(()),
            _ = int.recv() => return Ok(()),
        }
    }
}

/// Standard base64, for OSC 52.
fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn spawn_all(client: &Client, tx: &mpsc::Sender<Msg>, cmds: Vec<Cmd>) {
    for cmd in cmds {
        tokio::spawn(effects::run(client.clone(), cmd, tx.clone()));
    }
}

fn draw(term: &mut Terminal<CrosstermBackend<std::io::Stdout>>, app: &App) -> Result<()> {
    // Synchronized output: the terminal shows the whole frame at once (no tearing over SSH).
    execute!(term.backend_mut(), BeginSynchronizedUpdate)?;
    term.draw(|f| view::render(app, f.area(), f.buffer_mut()))?;
    execute!(term.backend_mut(), EndSynchronizedUpdate)?;
    Ok(())
}

/// Hands the terminal to `$EDITOR` for the whole task, then takes it back.
async fn edit(
    term: &mut Terminal<CrosstermBackend<std::io::Stdout>>,
    input: &Input,
    client: &Client,
    app: &mut App,
    task: &str,
) {
    input.pause();
    restore();
    let result =
        crate::editor::edit_reopening(client, &format!("/tasks/{}", crate::client::enc(task)))
            .await;
    let back = enter().and_then(|()| term.clear());
    input.resume();
    let msg = match (result, back) {
        (_, Err(e)) => Msg::Done {
            what: "edit".into(),
            result: Err(format!("cannot take the terminal back: {e}")),
        },
        (Ok(crate::editor::Outcome::Saved(v)), _) => Msg::Done {
            what: "edit".into(),
            result: Ok(format!(
                "saved {} at version {}",
                v.task.spec.name, v.task.version
            )),
        },
        (Ok(crate::editor::Outcome::Unchanged), _) => Msg::Done {
            what: "edit".into(),
            result: Ok("no changes".into()),
        },
        (Ok(crate::editor::Outcome::Cancelled), _) => Msg::Done {
            what: "edit".into(),
            result: Ok("cancelled".into()),
        },
        (Err(f), _) => Msg::Done {
            what: "edit".into(),
            result: Err(f.message),
        },
    };
    app.update(msg);
    app.dirty = true;
}

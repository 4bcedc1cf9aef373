//! The key registry: one table drives dispatch, the footer hints, `?` help and read-only
//! hiding. Keys are named as `key_name` prints them ("j", "down", "ctrl-d", "enter").

use cloudtask_shared::api::Role;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Which views a binding works in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    All,
    Lists,
    Tasks,
    Log,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Quit,
    Back,
    Help,
    Palette,
    Filter,
    Up,
    Down,
    Top,
    Bottom,
    PageUp,
    PageDown,
    Open,
    Logs,
    PauseResume,
    RunNow,
    Stop,
    Clone,
    Edit,
    EditCommand,
    Upload,
    Delete,
    Mark,
    Sort,
    Resync,
    Messages,
    Follow,
    Wrap,
    Save,
    PrevRun,
    NextRun,
    SearchNext,
    SearchPrev,
    Copy,
}

pub struct Binding {
    pub action: Action,
    pub keys: &'static [&'static str],
    pub scope: Scope,
    pub help: &'static str,
    /// Changes something on the center: hidden in read-only mode.
    pub writes: bool,
    /// Asks for confirmation (or a typed name) first.
    pub destructive: bool,
}

const fn b(
    action: Action,
    keys: &'static [&'static str],
    scope: Scope,
    help: &'static str,
    writes: bool,
    destructive: bool,
) -> Binding {
    Binding {
        action,
        keys,
        scope,
        help,
        writes,
        destructive,
    }
}

pub const BINDINGS: &[Binding] = &[
    b(Action::Help, &["?"], Scope::All, "help", false, false),
    b(
        Action::Palette,
        &[":"],
        Scope::All,
        "command palette",
        false,
        false,
    ),
    b(
        Action::Back,
        &["esc", "q"],
        Scope::All,
        "back (quit at the root)",
        false,
        false,
    ),
    b(Action::Quit, &["ctrl-c"], Scope::All, "quit", false, false),
    b(
        Action::Filter,
        &["/"],
        Scope::All,
        "filter / search",
        false,
        false,
    ),
    b(Action::Up, &["k", "up"], Scope::All, "up", false, false),
    b(
        Action::Down,
        &["j", "down"],
        Scope::All,
        "down",
        false,
        false,
    ),
    b(Action::Top, &["g", "home"], Scope::All, "top", false, false),
    b(
        Action::Bottom,
        &["G", "end"],
        Scope::All,
        "bottom",
        false,
        false,
    ),
    b(
        Action::PageUp,
        &["pgup"],
        Scope::All,
        "page up",
        false,
        false,
    ),
    b(
        Action::PageDown,
        &["pgdn"],
        Scope::All,
        "page down",
        false,
        false,
    ),
    b(Action::Open, &["enter"], Scope::Lists, "open", false, false),
    b(
        Action::Logs,
        &["l"],
        Scope::Tasks,
        "logs of the latest run",
        false,
        false,
    ),
    b(
        Action::PauseResume,
        &["p"],
        Scope::Tasks,
        "pause / resume",
        true,
        false,
    ),
    b(Action::RunNow, &["t"], Scope::Tasks, "run now", true, false),
    b(
        Action::Stop,
        &["x"],
        Scope::Tasks,
        "stop running runs",
        true,
        true,
    ),
    b(Action::Clone, &["c"], Scope::Tasks, "clone", true, false),
    b(
        Action::Edit,
        &["e"],
        Scope::Tasks,
        "edit in $EDITOR",
        true,
        false,
    ),
    b(
        Action::EditCommand,
        &["E"],
        Scope::Tasks,
        "edit the command",
        true,
        false,
    ),
    b(
        Action::Upload,
        &["u"],
        Scope::Tasks,
        "upload a package",
        true,
        false,
    ),
    b(
        Action::Delete,
        &["ctrl-d"],
        Scope::Tasks,
        "delete (type the name)",
        true,
        true,
    ),
    b(
        Action::Mark,
        &["space"],
        Scope::Tasks,
        "mark for bulk actions",
        false,
        false,
    ),
    b(
        Action::Copy,
        &["y"],
        Scope::Tasks,
        "copy group/name (OSC 52, works over SSH)",
        false,
        false,
    ),
    b(
        Action::Sort,
        &["s"],
        Scope::Tasks,
        "cycle sort",
        false,
        false,
    ),
    b(
        Action::Resync,
        &["ctrl-r"],
        Scope::All,
        "resync now",
        false,
        false,
    ),
    b(
        Action::Messages,
        &["@"],
        Scope::All,
        "messages",
        false,
        false,
    ),
    b(Action::Follow, &["f"], Scope::Log, "follow", false, false),
    b(Action::Wrap, &["w"], Scope::Log, "wrap", false, false),
    b(
        Action::Save,
        &["ctrl-s"],
        Scope::Log,
        "save to a file",
        false,
        false,
    ),
    b(
        Action::PrevRun,
        &["["],
        Scope::Log,
        "previous run",
        false,
        false,
    ),
    b(
        Action::NextRun,
        &["]"],
        Scope::Log,
        "next run",
        false,
        false,
    ),
    b(
        Action::SearchNext,
        &["n"],
        Scope::Log,
        "next match",
        false,
        false,
    ),
    b(
        Action::SearchPrev,
        &["N"],
        Scope::Log,
        "previous match",
        false,
        false,
    ),
];

/// A key as the registry names it; `None` for keys nothing binds.
pub fn key_name(k: &KeyEvent) -> Option<String> {
    let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
    let base = match k.code {
        KeyCode::Char(' ') => "space".to_string(),
        KeyCode::Char(c) => c.to_string(),
        KeyCode::Enter => "enter".into(),
        KeyCode::Esc => "esc".into(),
        KeyCode::Up => "up".into(),
        KeyCode::Down => "down".into(),
        KeyCode::Home => "home".into(),
        KeyCode::End => "end".into(),
        KeyCode::PageUp => "pgup".into(),
        KeyCode::PageDown => "pgdn".into(),
        KeyCode::Tab => "tab".into(),
        KeyCode::Backspace => "backspace".into(),
        _ => return None,
    };
    Some(if ctrl { format!("ctrl-{base}") } else { base })
}

/// The binding a key triggers in a view, among those `offered` (read-only mode, grants).
pub fn lookup(
    name: &str,
    in_scope: impl Fn(Scope) -> bool,
    offered: impl Fn(&Binding) -> bool,
) -> Option<&'static Binding> {
    BINDINGS
        .iter()
        .find(|b| b.keys.contains(&name) && in_scope(b.scope) && offered(b))
}

/// The least role an action needs on the center (`None`: reading, or the console's own).
pub fn role_needed(a: Action) -> Option<Role> {
    match a {
        Action::PauseResume | Action::RunNow | Action::Stop => Some(Role::Operator),
        Action::Clone | Action::Edit | Action::EditCommand | Action::Upload | Action::Delete => {
            Some(Role::Editor)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_key_is_bound_twice_in_overlapping_scopes() {
        let overlap = |a: Scope, b: Scope| {
            a == b
                || a == Scope::All
                || b == Scope::All
                || matches!(
                    (a, b),
                    (Scope::Lists, Scope::Tasks)
                        | (Scope::Tasks, Scope::Lists)
                        | (Scope::Tasks, Scope::Log)
                        | (Scope::Log, Scope::Tasks)
                )
        };
        for (i, x) in BINDINGS.iter().enumerate() {
            for y in &BINDINGS[i + 1..] {
                for k in x.keys {
                    assert!(
                        !(y.keys.contains(k) && overlap(x.scope, y.scope)),
                        "{k} bound to {:?} and {:?}",
                        x.action,
                        y.action
                    );
                }
            }
        }
    }

    #[test]
    fn terminal_and_tmux_keys_stay_free() {
        for forbidden in [
            "ctrl-h", "ctrl-i", "ctrl-m", "ctrl-a", "ctrl-b", "ctrl-j", "ctrl-k", "ctrl-l",
        ] {
            assert!(
                BINDINGS.iter().all(|b| !b.keys.contains(&forbidden)),
                "{forbidden} must not be bound"
            );
        }
    }
}

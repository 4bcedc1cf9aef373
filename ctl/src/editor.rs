//! `task edit NAME` on a terminal with no field flags: the whole spec as TOML in `$EDITOR`
//! (`$VISUAL`, then `$EDITOR`, then `vi`), applied with a version check. A file the center
//! rejects reopens with the error on top and the user's text kept; a concurrent change ends
//! with exit 4 and the user's text saved.

use std::path::{Path, PathBuf};
use std::process::Command;

use cloudtask_shared::TaskSpec;
use cloudtask_shared::api::{ErrorCode, TaskView};
use reqwest::Method;

use crate::apply::replacement;
use crate::client::{Client, Exit, Failure, Result, enc};

const MARK: &str = "# cloudtask:";

fn editor() -> String {
    std::env::var("VISUAL")
        .or_else(|_| std::env::var("EDITOR"))
        .unwrap_or_else(|_| "vi".into())
}

/// Runs the editor on `path`; the terminal is the editor's until it exits.
fn open(path: &Path) -> Result<()> {
    let cmd = editor();
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("{cmd} \"$1\""))
        .arg("sh")
        .arg(path)
        .status()
        .map_err(|e| Failure::new(Exit::Failure, format!("cannot start editor {cmd:?}: {e}")))?;
    if !status.success() {
        return Err(Failure::new(
            Exit::Failure,
            format!("editor {cmd:?} exited with {status}; nothing changed"),
        ));
    }
    Ok(())
}

fn header(v: &TaskView, error: Option<&str>) -> String {
    let mut h = String::new();
    if let Some(e) = error {
        for line in e.lines() {
            h.push_str(&format!("{MARK} ERROR: {line}\n"));
        }
    }
    h.push_str(&format!(
        "{MARK} editing task {}/{} at version {}. Save and quit to apply; an empty file cancels.\n",
        v.task.spec.group, v.task.spec.name, v.task.version
    ));
    h
}

/// Drops the lines this tool put on top, keeping the user's text.
fn body(text: &str) -> String {
    text.lines()
        .filter(|l| !l.starts_with(MARK))
        .collect::<Vec<_>>()
        .join("\n")
}

fn scratch(v: &TaskView) -> PathBuf {
    std::env::temp_dir().join(format!(
        "cloudtask-edit-{}-{}.toml",
        v.task.id,
        std::process::id()
    ))
}

/// How an edit ended.
pub enum Outcome {
    Saved(Box<TaskView>),
    Unchanged,
    Cancelled,
}

/// The CLI's edit: a concurrent change ends it with exit 4, the user's text saved.
pub async fn edit(c: &Client, task_path: &str) -> Result<Outcome> {
    edit_with(c, task_path, false).await
}

/// The console's edit: a concurrent change reopens the editor on the user's text, now
/// based on the task's new version, with the conflict explained on top.
pub async fn edit_reopening(c: &Client, task_path: &str) -> Result<Outcome> {
    edit_with(c, task_path, true).await
}

async fn edit_with(c: &Client, task_path: &str, reopen_on_conflict: bool) -> Result<Outcome> {
    let mut v: TaskView = c.get(task_path).await?;
    let original = toml::to_string_pretty(&v.task.spec)
        .map_err(|e| Failure::new(Exit::Failure, format!("encoding the task as TOML: {e}")))?;
    let path = scratch(&v);
    std::fs::write(&path, format!("{}{original}", header(&v, None)))?;
    let mut rejected: Option<(String, String)> = None;
    loop {
        open(&path)?;
        let text = body(&std::fs::read_to_string(&path)?);
        if let Some((before, problem)) = &rejected
            && before.trim() == text.trim()
        {
            return Err(Failure::new(
                Exit::Failure,
                format!(
                    "not applied: {problem}; your edit is kept in {}",
                    path.display()
                ),
            ));
        }
        if text.trim().is_empty() {
            let _ = std::fs::remove_file(&path);
            eprintln!("empty file: edit cancelled");
            return Ok(Outcome::Cancelled);
        }
        if text.trim() == original.trim() {
            let _ = std::fs::remove_file(&path);
            eprintln!("no changes");
            return Ok(Outcome::Unchanged);
        }
        let mut conflict = false;
        let problem = match toml::from_str::<TaskSpec>(&text) {
            Err(e) => e.to_string(),
            Ok(spec) => {
                let patch = replacement(&spec, &v.task.spec, v.task.version)?;
                let sent: Result<TaskView> = c
                    .send_json(
                        Method::PATCH,
                        &format!("/tasks/{}", enc(&v.task.id)),
                        &patch,
                    )
                    .await;
                match sent {
                    Ok(saved) => {
                        let _ = std::fs::remove_file(&path);
                        return Ok(Outcome::Saved(Box::new(saved)));
                    }
                    Err(f) if f.code == Some(ErrorCode::StaleVersion) && reopen_on_conflict => {
                        conflict = true;
                        let seen = v.task.version;
                        v = c.get(task_path).await?;
                        format!(
                            "the task changed on the center (version {seen} → {}) while you edited; your text is kept below — saving applies it over the new version",
                            v.task.version
                        )
                    }
                    Err(f) if f.code == Some(ErrorCode::StaleVersion) => {
                        return Err(Failure::new(
                            Exit::Conflict,
                            format!(
                                "task {}/{} changed on the center since version {} was opened ({}); your edit is kept in {}: run the edit again and paste it in",
                                v.task.spec.group,
                                v.task.spec.name,
                                v.task.version,
                                f.message,
                                path.display()
                            ),
                        ));
                    }
                    // The center refused the text (invalid, a name taken): show why, let the
                    // user fix it.
                    Err(f)
                        if matches!(f.exit, Exit::Usage | Exit::Conflict) && f.code.is_some() =>
                    {
                        f.message
                    }
                    Err(f) => return Err(f),
                }
            }
        };
        // Reopen with the problem on top and the user's text as they left it; saving it
        // again unchanged gives up.
        std::fs::write(&path, format!("{}{text}\n", header(&v, Some(&problem))))?;
        eprintln!("the edit was not applied: {problem}; reopening the editor");
        // Saving a conflict's text unchanged is a real answer (apply it); for other problems
        // it means the user gave up.
        rejected = (!conflict).then_some((text, problem));
    }
}

//! Declarative tasks: `apply -f FILE`, `diff -f FILE` and `export`.
//!
//! A file is TOML with one `[[task]]` table per task, each a task spec as the API takes it,
//! except that `package` may be a path (relative to the file) that is uploaded only when its
//! sha256 differs from the task's current package, and `secret_env` entries name where their
//! values are — `{ env = "VAR" }` (this shell's environment) or `{ file = "path" }` (relative
//! to the file) — never the values. `export` writes the same format, with packages as
//! `{ sha256, file_name, size }` references and secrets as `{ env = "NAME" }`, so `apply`
//! takes it back unchanged. A secret counts as changed when its value's fingerprint under the
//! center's salt differs from the center's.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use cloudtask_shared::api::TaskView;
use cloudtask_shared::{PackageRef, Secret, TaskSpec};
use reqwest::Method;
use serde::Serialize;
use serde_json::{Value, json};
use sha2::Digest;

use crate::client::{Client, Exit, Failure, Result, enc};

/// One task of a file, with its package still to resolve.
struct Declared {
    spec: TaskSpec,
    package: Option<PackageSource>,
}

enum PackageSource {
    Path(PathBuf),
    Ref(PackageRef),
}

/// What apply does (or diff would do), per task, as `group/name`.
#[derive(Debug, Default, Serialize)]
pub struct Plan {
    pub create: Vec<String>,
    pub update: Vec<Change>,
    pub unchanged: Vec<String>,
    pub delete: Vec<String>,
    /// Whether the plan was carried out (false for `diff`).
    pub applied: bool,
}

#[derive(Debug, Serialize)]
pub struct Change {
    pub task: String,
    /// Spec fields that differ.
    pub fields: Vec<String>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.create.is_empty() && self.update.is_empty() && self.delete.is_empty()
    }

    pub fn print(&self) {
        for t in &self.create {
            println!("+ create  {t}");
        }
        for c in &self.update {
            println!("~ update  {} ({})", c.task, c.fields.join(", "));
        }
        for t in &self.delete {
            println!("- delete  {t}");
        }
        for t in &self.unchanged {
            println!("  same    {t}");
        }
        if self.is_empty() {
            println!("no changes: the center already matches the file");
        } else {
            let verb = if self.applied { "done" } else { "to do" };
            println!(
                "{verb}: {} to create, {} to update, {} to delete, {} unchanged",
                self.create.len(),
                self.update.len(),
                self.delete.len(),
                self.unchanged.len()
            );
        }
    }
}

fn key(spec: &TaskSpec) -> String {
    format!("{}/{}", spec.group, spec.name)
}

fn bad_file(file: &str, msg: impl std::fmt::Display) -> Failure {
    Failure::new(Exit::Usage, format!("{file}: {msg}"))
}

/// Reads and checks a task file (`-` is stdin); nothing is sent anywhere yet.
fn read_file(file: &str) -> Result<Vec<Declared>> {
    let (text, base) = if file == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        (s, std::env::current_dir()?)
    } else {
        let p = Path::new(file);
        let text = std::fs::read_to_string(p).map_err(|e| bad_file(file, e))?;
        let base = p
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or(std::env::current_dir()?);
        (text, base)
    };
    let doc: toml::Table = toml::from_str(&text).map_err(|e| bad_file(file, e))?;
    if let Some(k) = doc.keys().find(|k| *k != "task") {
        return Err(bad_file(
            file,
            format!("unknown top-level key {k:?}: tasks go in [[task]] tables"),
        ));
    }
    let tables = match doc.get("task") {
        None => Vec::new(),
        Some(toml::Value::Array(a)) => a.clone(),
        Some(_) => {
            return Err(bad_file(
                file,
                "`task` must be an array of tables: [[task]]",
            ));
        }
    };
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, t) in tables.into_iter().enumerate() {
        let toml::Value::Table(mut t) = t else {
            return Err(bad_file(file, format!("task #{} is not a table", i + 1)));
        };
        let label = t
            .get("name")
            .and_then(|n| n.as_str())
            .map(|n| format!("task #{} ({n})", i + 1))
            .unwrap_or_else(|| format!("task #{}", i + 1));
        let package = match t.remove("package") {
            None => None,
            Some(toml::Value::String(p)) => Some(PackageSource::Path(base.join(p))),
            Some(v @ toml::Value::Table(_)) => {
                Some(PackageSource::Ref(v.try_into().map_err(|e| {
                    bad_file(file, format!("{label}: package: {e}"))
                })?))
            }
            Some(_) => {
                return Err(bad_file(
                    file,
                    format!("{label}: package must be a path or {{ sha256, file_name, size }}"),
                ));
            }
        };
        let secrets = match t.remove("secret_env") {
            None => BTreeMap::new(),
            Some(toml::Value::Table(refs)) => refs
                .into_iter()
                .map(|(k, r)| {
                    let value = secret_value(&base, &k, &r)
                        .map_err(|e| bad_file(file, format!("{label}: secret_env.{k}: {e}")))?;
                    Ok((k, Secret::new(value)))
                })
                .collect::<Result<_>>()?,
            Some(_) => {
                return Err(bad_file(
                    file,
                    format!(
                        "{label}: secret_env must be a table of NAME = {{ env = \"VAR\" }} or {{ file = \"path\" }}"
                    ),
                ));
            }
        };
        let mut spec: TaskSpec = toml::Value::Table(t)
            .try_into()
            .map_err(|e| bad_file(file, format!("{label}: {e}")))?;
        spec.secret_env = secrets;
        spec.validate_fires()
            .map_err(|e| bad_file(file, format!("{label}: {e}")))?;
        if !seen.insert(key(&spec)) {
            return Err(bad_file(
                file,
                format!("{label}: {} appears twice", key(&spec)),
            ));
        }
        out.push(Declared { spec, package });
    }
    Ok(out)
}

/// The value a `secret_env` reference names: `{ env = "VAR" }` or `{ file = "path" }` (one
/// trailing line end dropped). A value written into the file itself is refused: task files
/// end up in version control.
fn secret_value(base: &Path, name: &str, r: &toml::Value) -> std::result::Result<String, String> {
    let table = r.as_table().filter(|t| t.len() == 1);
    match table.and_then(|t| t.iter().next()) {
        Some((k, toml::Value::String(var))) if k == "env" => {
            std::env::var(var).map_err(|_| format!("the environment variable {var} is not set"))
        }
        Some((k, toml::Value::String(path))) if k == "file" => {
            let path = base.join(path);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("reading {}: {e}", path.display()))?;
            let text = text.strip_suffix('\n').unwrap_or(&text);
            Ok(text.strip_suffix('\r').unwrap_or(text).to_string())
        }
        _ => Err(format!(
            "give {{ env = \"{name}\" }} or {{ file = \"path\" }}, never the value itself"
        )),
    }
}

/// Takes the center's sealed entry for each declared secret whose value it already holds, so
/// an unchanged secret compares equal (and is sent back as its fingerprint, not its value).
fn keep_unchanged_secrets(declared: &mut TaskSpec, current: &TaskSpec) {
    for (k, s) in declared.secret_env.iter_mut() {
        if let (Some(cur), Some(value)) = (current.secret_env.get(k), s.value.as_deref())
            && cur.matches(value)
        {
            *s = cur.clone();
        }
    }
}

/// sha256, file name and size of a local package, read in chunks.
fn local_package(path: &Path) -> Result<PackageRef> {
    let mut f = std::fs::File::open(path)
        .map_err(|e| Failure::new(Exit::Failure, format!("package {}: {e}", path.display())))?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        size += n as u64;
    }
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| {
            Failure::new(
                Exit::Usage,
                format!("package {} has no usable file name", path.display()),
            )
        })?
        .to_string();
    Ok(PackageRef {
        sha256: hex::encode(h.finalize()),
        file_name,
        size,
    })
}

/// Computes the plan and, when `apply`, carries it out. `prune` deletes tasks of the file's
/// groups that the file does not declare.
pub async fn run(c: &Client, file: &str, apply: bool, prune: bool) -> Result<Plan> {
    let declared = read_file(file)?;
    let existing: Vec<TaskView> = c.get("/tasks").await?;
    let by_key: BTreeMap<String, &TaskView> =
        existing.iter().map(|v| (key(&v.task.spec), v)).collect();
    let mut plan = Plan {
        applied: apply,
        ..Plan::default()
    };
    let mut work = Vec::new();
    for mut d in declared {
        let current = by_key.get(&key(&d.spec)).copied();
        if let Some(v) = current {
            keep_unchanged_secrets(&mut d.spec, &v.task.spec);
        }
        let upload = match d.package.take() {
            None => None,
            Some(PackageSource::Ref(r)) => {
                d.spec.package = Some(r);
                None
            }
            Some(PackageSource::Path(p)) => {
                let local = local_package(&p)?;
                let same = current
                    .and_then(|v| v.task.spec.package.as_ref())
                    .is_some_and(|cur| {
                        cur.sha256 == local.sha256 && cur.file_name == local.file_name
                    });
                d.spec.package = Some(local);
                (!same).then_some(p)
            }
        };
        match current {
            None => {
                plan.create.push(key(&d.spec));
                work.push((d.spec, None, upload));
            }
            Some(v) if v.task.spec == d.spec => plan.unchanged.push(key(&d.spec)),
            Some(v) => {
                plan.update.push(Change {
                    task: key(&d.spec),
                    fields: v.task.spec.changed_fields(&d.spec),
                });
                work.push((d.spec, Some(v), upload));
            }
        }
    }
    if prune {
        let groups: BTreeSet<&str> = work
            .iter()
            .map(|(s, _, _)| s.group.as_str())
            .chain(plan.unchanged.iter().filter_map(|k| k.split('/').next()))
            .collect();
        let declared: BTreeSet<String> = work
            .iter()
            .map(|(s, _, _)| key(s))
            .chain(plan.unchanged.iter().cloned())
            .collect();
        for v in &existing {
            let k = key(&v.task.spec);
            if groups.contains(v.task.spec.group.as_str()) && !declared.contains(&k) {
                plan.delete.push(k);
            }
        }
    }
    if !apply {
        return Ok(plan);
    }
    for (mut spec, current, upload) in work {
        if let Some(path) = upload {
            let name = spec
                .package
                .as_ref()
                .map(|p| p.file_name.clone())
                .unwrap_or_default();
            let uploaded: PackageRef = c
                .upload(&format!("/packages?file_name={}", enc(&name)), &path)
                .await?;
            spec.package = Some(uploaded);
        }
        match current {
            None => {
                let _: TaskView = c.send_json(Method::POST, "/tasks", &spec).await?;
            }
            Some(v) => {
                let _: TaskView = c
                    .send_json(
                        Method::PATCH,
                        &format!("/tasks/{}", enc(&v.task.id)),
                        &replacement(&spec, &v.task.spec, v.task.version)?,
                    )
                    .await?;
            }
        }
    }
    for k in &plan.delete {
        if let Some(v) = by_key.get(k) {
            c.delete(&format!("/tasks/{}", enc(&v.task.id))).await?;
        }
    }
    Ok(plan)
}

/// A merge patch that turns `current` into exactly `spec`: what `spec` leaves out (a field
/// unset, a map entry removed) becomes null, which the merge deletes.
pub fn replacement(spec: &TaskSpec, current: &TaskSpec, version: u64) -> Result<Value> {
    let mut patch = serde_json::to_value(spec)?;
    null_what_went(&mut patch, &serde_json::to_value(current)?);
    let Value::Object(m) = &mut patch else {
        return Err(Failure::new(
            Exit::Failure,
            "task spec did not encode as an object",
        ));
    };
    m.insert("version".into(), json!(version));
    Ok(patch)
}

/// Adds a null to `patch` for every key of `current` it lacks, at every depth where both are
/// objects.
fn null_what_went(patch: &mut Value, current: &Value) {
    if let (Value::Object(p), Value::Object(c)) = (patch, current) {
        for (k, cv) in c {
            match p.get_mut(k) {
                Some(pv) => null_what_went(pv, cv),
                None => {
                    p.insert(k.clone(), Value::Null);
                }
            }
        }
    }
}

/// Every task as a file `apply` accepts.
pub async fn export(c: &Client, group: Option<&str>) -> Result<String> {
    let q = group
        .map(|g| format!("?group={}", enc(g)))
        .unwrap_or_default();
    let tasks: Vec<TaskView> = c.get(&format!("/tasks{q}")).await?;
    let encode =
        |e: toml::ser::Error| Failure::new(Exit::Failure, format!("encoding tasks as TOML: {e}"));
    let mut specs = Vec::new();
    for v in &tasks {
        let toml::Value::Table(mut t) = toml::Value::try_from(&v.task.spec).map_err(encode)? else {
            return Err(Failure::new(Exit::Failure, "a task spec is not a table"));
        };
        // Secrets as references: the value comes from the environment when applied.
        if !v.task.spec.secret_env.is_empty() {
            let refs: toml::Table = v
                .task
                .spec
                .secret_env
                .keys()
                .map(|k| {
                    let mut r = toml::Table::new();
                    r.insert("env".into(), toml::Value::String(k.clone()));
                    (k.clone(), toml::Value::Table(r))
                })
                .collect();
            t.insert("secret_env".into(), toml::Value::Table(refs));
        }
        specs.push(toml::Value::Table(t));
    }
    let mut file = toml::Table::new();
    file.insert("task".into(), toml::Value::Array(specs));
    toml::to_string_pretty(&file).map_err(encode)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(extra: Value) -> TaskSpec {
        let mut base = json!({"name": "t", "command": "true"});
        if let (Value::Object(b), Value::Object(e)) = (&mut base, extra) {
            b.extend(e);
        }
        serde_json::from_value(base).unwrap()
    }

    #[test]
    fn a_replacement_removes_what_the_new_spec_left_out() {
        let current = spec(json!({
            "env": {"A": "1", "B": "2"},
            "node_selector": {"zone": "eu"},
            "accepts_args": true,
            "secret_env": {"S": {"salt": "00", "sha256": "ab"}, "T": {"salt": "01", "sha256": "cd"}},
        }));
        let wanted = spec(json!({
            "env": {"A": "1"},
            "secret_env": {"S": {"salt": "00", "sha256": "ab"}},
        }));
        let patch = replacement(&wanted, &current, 7).unwrap();
        assert_eq!(patch["env"], json!({"A": "1", "B": null}));
        assert_eq!(patch["node_selector"], Value::Null);
        assert_eq!(patch["accepts_args"], Value::Null);
        assert_eq!(patch["secret_env"]["T"], Value::Null);
        assert_eq!(
            patch["secret_env"]["S"],
            json!({"salt": "00", "sha256": "ab"})
        );
        assert_eq!(patch["version"], 7);
    }
}

//! `cloudtaskctl`: the command line for CloudTask. Tables for people, `-o json` for scripts;
//! exit codes 0 ok, 1 failure, 2 usage or invalid input, 3 not found, 4 conflict,
//! 5 unauthorized, 6 forbidden, 7 the center unreachable.

mod alerts;
mod apply;
mod audit;
mod client;
mod config;
mod editor;
mod nodes;
mod table;
mod tasks;
mod tui;
mod users;

use std::io::{IsTerminal, Read, Write};

use clap::{Parser, Subcommand};
use cloudtask_shared::RunRecord;
use cloudtask_shared::api::{ErrorCode, IssuedToken, LoginRequest, VersionInfo, WhoAmI};
use reqwest::Method;
use serde::Serialize;
use serde_json::{Value, json};

use client::{Client, Exit, Failure, Result, enc};
use config::{ConfigFile, Context};
use table::{Output, print_json};
use tasks::TaskCmd;

#[derive(Debug, Parser)]
#[command(
    name = "cloudtaskctl",
    version,
    about = "Drive a CloudTask center from the shell",
    after_help = "Examples:\n  cloudtaskctl login --server http://ct:7878 --token-stdin < admin.token\n  cloudtaskctl task ls\n  cloudtaskctl apply -f tasks.toml --prune\n\nExit codes: 0 ok, 1 failure, 2 usage or invalid input, 3 not found, 4 conflict, 5 unauthorized, 6 forbidden, 7 center unreachable, 8 the center did not answer in time."
)]
struct Cli {
    /// Center URL (default: the context's, else http://127.0.0.1:7878); several,
    /// comma-separated, for centers sharing a store: a center that cannot be reached is
    /// passed over for the next.
    #[arg(long, global = true, env = "CLOUDTASK_SERVER")]
    server: Option<String>,
    /// API token (default: the context's; a standalone center writes one to <data dir>/admin.token).
    #[arg(long, global = true, env = "CLOUDTASK_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// PEM file of the CA an `https` center's certificate must chain to (default: the
    /// context's, else the system's roots).
    #[arg(long, global = true, env = "CLOUDTASK_CA_FILE", value_name = "FILE")]
    ca_file: Option<std::path::PathBuf>,
    /// Context to use instead of the current one (see `context ls`).
    #[arg(long, global = true, env = "CLOUDTASK_CONTEXT")]
    context: Option<String>,
    /// Output format: aligned table, table with more columns, or JSON for scripts.
    #[arg(short, long, global = true, value_enum, default_value_t = Output::Table)]
    output: Output,
    /// How long a request may go without a byte from the center before it fails (exit 8);
    /// followed logs and event streams are exempt (a quiet run is not an error).
    #[arg(long, global = true, env = "CLOUDTASK_REQUEST_TIMEOUT", default_value = "30s", value_parser = parse_timeout)]
    request_timeout: std::time::Duration,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Log in as a user (a session token), or save a token you have; as a context, made
    /// current.
    #[command(
        after_help = "Examples:\n  cloudtaskctl login --server http://ct:7878 --user ann   # prompts for the password\n  cloudtaskctl login --user admin --password-stdin < admin.password\n  cloudtaskctl login --server http://ct:7878 --token-stdin < token\n  cloudtaskctl login --server http://ct:7878 --context prod --readonly"
    )]
    Login {
        /// Name of the context (default: the server's host).
        #[arg(long = "name")]
        name: Option<String>,
        /// Log in as this user: the password is prompted without echo, or read from
        /// --password-stdin; the session token the center gives is saved.
        #[arg(long, conflicts_with = "token_stdin")]
        user: Option<String>,
        /// Read the password from standard input (with --user).
        #[arg(long, requires = "user")]
        password_stdin: bool,
        /// Read the token from standard input (for CI), instead of prompting.
        #[arg(long)]
        token_stdin: bool,
        /// Mark the context read-only: the console hides destructive actions.
        #[arg(long)]
        readonly: bool,
    },
    /// End the session of a context (the current one by default) and forget its token.
    #[command(after_help = "Example:\n  cloudtaskctl logout")]
    Logout,
    /// Who the center takes you for, and your grants.
    #[command(after_help = "Example:\n  cloudtaskctl whoami -o json")]
    Whoami,
    /// Manage users and their grants.
    #[command(subcommand)]
    User(users::UserCmd),
    /// Make, list and revoke API tokens for scripts and CI.
    #[command(subcommand)]
    Token(users::TokenCmd),
    /// List or switch contexts.
    #[command(subcommand)]
    Context(ContextCmd),
    /// Inspect clusters; make, list and revoke the join tokens nodes join with.
    #[command(subcommand)]
    Cluster(nodes::ClusterCmd),
    /// Inspect nodes; revoke a node's credential.
    #[command(subcommand)]
    Node(nodes::NodeCmd),
    /// List, create and remove task groups.
    #[command(subcommand)]
    Group(GroupCmd),
    /// Create, inspect and control tasks.
    #[command(subcommand)]
    Task(Box<TaskCmd>),
    /// Inspect one run.
    #[command(subcommand)]
    Run(RunCmd),
    /// Read the audit log (admins): who changed what, from where, newest first.
    #[command(
        after_help = "Examples:\n  cloudtaskctl audit --since 24h --user ann\n  cloudtaskctl audit --task backup --group ops -o wide\n  cloudtaskctl audit --action request.refused -o json"
    )]
    Audit(audit::AuditArgs),
    /// Incidents: what is failing now, and what was.
    #[command(subcommand)]
    Alert(alerts::AlertCmd),
    /// The alert channels: delivery status, test messages.
    #[command(subcommand)]
    Notify(alerts::NotifyCmd),
    /// Make the center's tasks match a file: create, update and (with --prune) delete.
    #[command(
        after_help = "Example:\n  cloudtaskctl apply -f tasks.toml --prune\n\nThe file holds [[task]] tables, each a task spec; `package` may be a path relative to the\nfile, uploaded only when its sha256 changed. A second apply of the same file changes nothing."
    )]
    Apply {
        /// Task file (TOML), or - for standard input.
        #[arg(short, long)]
        file: String,
        /// Also delete tasks of the file's groups that the file does not declare.
        #[arg(long)]
        prune: bool,
    },
    /// Show what `apply` would change, without changing anything.
    #[command(after_help = "Example:\n  cloudtaskctl diff -f tasks.toml --exit-code")]
    Diff {
        #[arg(short, long)]
        file: String,
        #[arg(long)]
        prune: bool,
        /// Exit 1 when there are changes (like `git diff --exit-code`).
        #[arg(long)]
        exit_code: bool,
    },
    /// Print tasks as a file `apply` accepts.
    #[command(after_help = "Example:\n  cloudtaskctl export --group ops > ops.toml")]
    Export {
        #[arg(long)]
        group: Option<String>,
    },
    /// Open the live console (also what `cloudtaskctl` alone does on a terminal).
    #[command(
        after_help = "Example:\n  cloudtaskctl tui --readonly\n\nPress ? inside for the keys."
    )]
    Tui {
        /// Hide every action that changes something (also set per context: login --readonly).
        #[arg(long)]
        readonly: bool,
    },
    /// Print the client's and the server's versions.
    #[command(after_help = "Example:\n  cloudtaskctl version -o json")]
    Version,
}

#[derive(Debug, Subcommand)]
enum ContextCmd {
    /// List contexts; the current one is marked.
    #[command(after_help = "Example:\n  cloudtaskctl context ls -o json")]
    Ls,
    /// Make a context current.
    #[command(after_help = "Example:\n  cloudtaskctl context use prod")]
    Use { name: String },
}

#[derive(Debug, Subcommand)]
enum GroupCmd {
    /// List groups.
    #[command(after_help = "Example:\n  cloudtaskctl group ls")]
    Ls,
    /// Create a group.
    #[command(
        after_help = "Example:\n  cloudtaskctl group create ops --description 'operations jobs'"
    )]
    Create {
        name: String,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Remove an empty group.
    #[command(after_help = "Example:\n  cloudtaskctl group rm ops")]
    Rm { name: String },
}

#[derive(Debug, Subcommand)]
enum RunCmd {
    /// Show a run's record.
    #[command(after_help = "Example:\n  cloudtaskctl run show backup-1795796370000-1")]
    Show { id: String },
    /// Print a run's log; -f follows it until the run ends.
    #[command(after_help = "Example:\n  cloudtaskctl run logs backup-1795796370000-1 -f")]
    Logs {
        id: String,
        #[arg(short, long)]
        follow: bool,
    },
}

fn main() {
    cloudtask_shared::tls::install_provider();
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start: {e}");
            std::process::exit(1);
        }
    };
    let json = cli.output.json();
    if let Err(f) = rt.block_on(run(cli)) {
        if json {
            // Scripts asking for JSON get the error as JSON too: the center's code (null for
            // a failure on this side), the message and the exit code.
            let body = serde_json::json!({ "error": {
                "code": f.code,
                "message": f.message,
                "exit": f.exit.code(),
            }});
            eprintln!("{body}");
        } else {
            eprintln!("error: {}", f.message);
        }
        std::process::exit(f.exit.code());
    }
}

async fn run(mut cli: Cli) -> Result<()> {
    let out = cli.output;
    let command = match cli.command.take() {
        Some(c) => c,
        None if std::io::stdout().is_terminal() && std::io::stdin().is_terminal() => {
            Command::Tui { readonly: false }
        }
        None => {
            return Err(Failure::new(
                Exit::Usage,
                "no command given and not on a terminal (the console needs one): see cloudtaskctl --help for the subcommands",
            ));
        }
    };
    // Commands about contexts work without a reachable server.
    match &command {
        Command::Login {
            name,
            user,
            password_stdin,
            token_stdin,
            readonly,
        } => {
            let how = match user {
                Some(u) => Credential::User(u.clone(), *password_stdin),
                None => Credential::Token(*token_stdin),
            };
            return login(&cli, name.clone(), how, *readonly).await;
        }
        Command::Logout => return logout(&cli).await,
        Command::Context(cmd) => return context(cmd, out),
        _ => {}
    }
    let target = config::resolve(cli.server, cli.token, cli.context, cli.ca_file)?;
    let c = Client::new(
        &target.server,
        target.token.clone(),
        cli.request_timeout,
        target.ca_file.as_deref(),
    )?;
    match command {
        Command::Login { .. } | Command::Logout | Command::Context(_) => {}
        Command::Tui { readonly } => {
            return tui::run(c, &target.server, readonly || target.readonly).await;
        }
        Command::Cluster(cmd) => nodes::cluster(&c, cmd, out).await?,
        Command::Node(cmd) => nodes::node(&c, cmd, out).await?,
        Command::Whoami => users::whoami(&c, out).await?,
        Command::User(cmd) => users::user(&c, cmd, out).await?,
        Command::Token(cmd) => users::token(&c, cmd, out).await?,
        Command::Group(cmd) => group(&c, cmd, out).await?,
        Command::Task(cmd) => tasks::task(&c, *cmd, out).await?,
        Command::Run(cmd) => run_cmd(&c, cmd, out).await?,
        Command::Audit(args) => audit::audit(&c, args, out).await?,
        Command::Alert(cmd) => alerts::alert(&c, cmd, out).await?,
        Command::Notify(cmd) => alerts::notify(&c, cmd, out).await?,
        Command::Apply { file, prune } => {
            let plan = apply::run(&c, &file, true, prune).await?;
            if out.json() {
                return print_json(&plan);
            }
            plan.print();
        }
        Command::Diff {
            file,
            prune,
            exit_code,
        } => {
            let plan = apply::run(&c, &file, false, prune).await?;
            if out.json() {
                print_json(&plan)?;
            } else {
                plan.print();
            }
            if exit_code && !plan.is_empty() {
                return Err(Failure::new(
                    Exit::Failure,
                    "the center differs from the file",
                ));
            }
        }
        Command::Export { group } => print!("{}", apply::export(&c, group.as_deref()).await?),
        Command::Version => {
            let server: VersionInfo = c.get("/version").await?;
            if out.json() {
                return print_json(&json!({
                    "client": env!("CARGO_PKG_VERSION"),
                    "server": server,
                }));
            }
            println!("client: {}", env!("CARGO_PKG_VERSION"));
            println!(
                "server: {} ({}{}) at {}{}",
                server.version,
                server.mode,
                if server.leader { ", leader" } else { "" },
                target.server,
                target
                    .context
                    .map(|c| format!(" (context {c})"))
                    .unwrap_or_default()
            );
        }
    }
    Ok(())
}

fn parse_timeout(s: &str) -> std::result::Result<std::time::Duration, String> {
    match cloudtask_shared::parse_duration_ms(s) {
        Ok(0) => Err("must be more than zero".into()),
        Ok(ms) => Ok(std::time::Duration::from_millis(ms)),
        Err(e) => Err(e),
    }
}

/// Reads a token: from stdin when asked (CI), else by prompting without echo on a terminal.
fn read_token(from_stdin: bool) -> Result<String> {
    let token = if from_stdin {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        s
    } else if std::io::stdin().is_terminal() {
        rpassword::prompt_password("Token: ")?
    } else {
        return Err(Failure::new(
            Exit::Failure,
            "no token: pass --token, --token-stdin, or run on a terminal to be prompted",
        ));
    };
    let token = token.trim().to_string();
    if token.is_empty() {
        return Err(Failure::new(Exit::Failure, "the token is empty"));
    }
    Ok(token)
}

/// What `login` saves: a user's new session, or a token given.
enum Credential {
    /// The user, and whether the password comes on stdin.
    User(String, bool),
    /// Whether the token comes on stdin.
    Token(bool),
}

async fn login(cli: &Cli, name: Option<String>, how: Credential, readonly: bool) -> Result<()> {
    let path = config::path()?;
    let mut file = ConfigFile::load(&path)?;
    let server = cli
        .server
        .clone()
        .or_else(|| {
            cli.context
                .as_ref()
                .and_then(|n| file.contexts.get(n))
                .map(|c| c.server.clone())
        })
        .unwrap_or_else(|| config::DEFAULT_SERVER.to_string());
    // Saved absolute, so that the context works from any directory.
    let ca_file =
        match cli.ca_file.clone().or_else(|| {
            cli.context
                .as_ref()
                .and_then(|n| file.contexts.get(n))
                .and_then(|c| c.ca_file.clone())
        }) {
            Some(f) => Some(std::path::absolute(&f).map_err(|e| {
                Failure::new(Exit::Usage, format!("--ca-file {}: {e}", f.display()))
            })?),
            None => None,
        };
    let (token, expires) = match how {
        Credential::User(user, from_stdin) => {
            let password = users::read_secret("Password: ", from_stdin)?;
            let c = Client::new(&server, None, cli.request_timeout, ca_file.as_deref())?;
            let issued: IssuedToken = c
                .send_json(Method::POST, "/login", &LoginRequest { user, password })
                .await
                .map_err(|mut e| {
                    // Not a token problem: say what the center said, without token hints.
                    if e.code == Some(ErrorCode::Unauthorized) {
                        e.message = "login refused: wrong user name or password".into();
                    }
                    e
                })?;
            (issued.token, Some(issued.expires_at))
        }
        Credential::Token(from_stdin) => match &cli.token {
            Some(t) => (t.clone(), None),
            None => (read_token(from_stdin)?, None),
        },
    };
    // Check the token before saving it.
    let c = Client::new(
        &server,
        Some(token.clone()),
        cli.request_timeout,
        ca_file.as_deref(),
    )?;
    let v: VersionInfo = c.get("/version").await?;
    let name = name
        .or_else(|| cli.context.clone())
        .unwrap_or_else(|| config::context_name_for(&server));
    file.contexts.insert(
        name.clone(),
        Context {
            server: server.clone(),
            token: Some(token),
            readonly,
            ca_file,
        },
    );
    file.current = Some(name.clone());
    file.save(&path)?;
    if cli.output.json() {
        return print_json(
            &json!({ "context": name, "server": server, "version": v, "expires_at": expires }),
        );
    }
    let until = expires
        .map(|t| format!(" until {}", table::when(Some(t))))
        .unwrap_or_default();
    println!(
        "logged in to {server} (cloudtask {}, {}){until}; context {name:?} is current",
        v.version, v.mode
    );
    Ok(())
}

/// Ends the context's session on the center (a session token is revoked; a token that is
/// not a session is only forgotten here) and forgets its token.
async fn logout(cli: &Cli) -> Result<()> {
    let path = config::path()?;
    let mut file = ConfigFile::load(&path)?;
    let Some(name) = cli.context.clone().or(file.current.clone()) else {
        return Err(Failure::new(
            Exit::NotFound,
            "no current context to log out of",
        ));
    };
    let Some(ctx) = file.contexts.get_mut(&name) else {
        return Err(Failure::new(
            Exit::NotFound,
            format!("no context named {name:?}"),
        ));
    };
    if let Some(token) = ctx.token.clone() {
        let ca = cli.ca_file.as_deref().or(ctx.ca_file.as_deref());
        let c = Client::new(&ctx.server, Some(token), cli.request_timeout, ca)?;
        // Only a session ends on the center: an API or bootstrap token saved with
        // `--token-stdin` outlives this context.
        let me: Result<WhoAmI> = c.get("/whoami").await;
        match me {
            Ok(me) if me.principal.starts_with("user:") => {
                if let Err(e) = c.send_empty(Method::POST, "/logout", &json!({})).await {
                    eprintln!("warning: the center did not end the session: {}", e.message);
                }
            }
            Ok(_) => {}
            Err(e) => eprintln!(
                "warning: cannot reach the center to end the session: {}",
                e.message
            ),
        }
    }
    ctx.token = None;
    file.save(&path)?;
    println!("logged out of context {name:?} (its token is forgotten)");
    Ok(())
}

fn context(cmd: &ContextCmd, out: Output) -> Result<()> {
    let path = config::path()?;
    let mut file = ConfigFile::load(&path)?;
    match cmd {
        ContextCmd::Ls => {
            #[derive(Serialize)]
            struct Row<'a> {
                name: &'a str,
                server: &'a str,
                current: bool,
                logged_in: bool,
                readonly: bool,
            }
            let rows: Vec<Row> = file
                .contexts
                .iter()
                .map(|(n, c)| Row {
                    name: n,
                    server: &c.server,
                    current: file.current.as_deref() == Some(n.as_str()),
                    logged_in: c.token.is_some(),
                    readonly: c.readonly,
                })
                .collect();
            if out.json() {
                return print_json(&rows);
            }
            let cells: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    vec![
                        if r.current { "*" } else { "" }.to_string(),
                        r.name.to_string(),
                        r.server.to_string(),
                        if r.logged_in { "yes" } else { "no" }.to_string(),
                        if r.readonly { "yes" } else { "no" }.to_string(),
                    ]
                })
                .collect();
            table::print(&["CURRENT", "NAME", "SERVER", "TOKEN", "READONLY"], &cells);
        }
        ContextCmd::Use { name } => {
            if !file.contexts.contains_key(name) {
                return Err(Failure::new(
                    Exit::NotFound,
                    format!("no context named {name:?} (see `cloudtaskctl context ls`)"),
                ));
            }
            file.current = Some(name.clone());
            file.save(&path)?;
            println!("context {name:?} is current");
        }
    }
    Ok(())
}

async fn group(c: &Client, cmd: GroupCmd, out: Output) -> Result<()> {
    match cmd {
        GroupCmd::Ls => {
            let groups: Vec<Value> = c.get("/groups").await?;
            if out.json() {
                return print_json(&groups);
            }
            let rows: Vec<Vec<String>> = groups
                .iter()
                .map(|g| {
                    vec![
                        g["name"].as_str().unwrap_or_default().to_string(),
                        g["description"].as_str().unwrap_or_default().to_string(),
                    ]
                })
                .collect();
            table::print(&["NAME", "DESCRIPTION"], &rows);
        }
        GroupCmd::Create { name, description } => {
            c.send_empty(
                Method::POST,
                "/groups",
                &json!({ "name": name, "description": description }),
            )
            .await?;
            if !out.json() {
                println!("group {name} created");
            }
        }
        GroupCmd::Rm { name } => {
            c.delete(&format!("/groups/{}", enc(&name))).await?;
            if !out.json() {
                println!("group {name} removed");
            }
        }
    }
    Ok(())
}

async fn run_cmd(c: &Client, cmd: RunCmd, out: Output) -> Result<()> {
    match cmd {
        RunCmd::Show { id } => {
            let r: RunRecord = c.get(&format!("/runs/{}", enc(&id))).await?;
            if out.json() {
                return print_json(&r);
            }
            table::run(&r);
        }
        RunCmd::Logs { id, follow } => tasks::print_log(c, &id, follow).await?,
    }
    std::io::stdout().flush()?;
    Ok(())
}
#[cfg(test)]
mod generated {
    use std::path::PathBuf;

    use clap::CommandFactory;
    use clap_complete::Shell;
    use cloudtask_shared::generated::check;

    fn repo() -> PathBuf {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
    }

    /// One man page per command and subcommand: cloudtaskctl.1, cloudtaskctl-task-create.1, …
    fn pages(cmd: &clap::Command, name: &str, out: &mut Vec<(String, Vec<u8>)>) {
        let mut buf = Vec::new();
        clap_mangen::Man::new(cmd.clone())
            .title(name.to_uppercase())
            .section("1")
            .manual("CloudTask")
            .render(&mut buf)
            .unwrap();
        out.push((format!("{name}.1"), buf));
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            pages(sub, &format!("{name}-{}", sub.get_name()), out);
        }
    }

    #[test]
    fn generated_man_pages_and_completions_are_current() {
        let mut cmd = super::Cli::command();
        cmd.build();
        let mut files = Vec::new();
        pages(&cmd, "cloudtaskctl", &mut files);
        let mut failures: Vec<String> = files
            .into_iter()
            .filter_map(|(name, content)| check(&repo().join("man").join(name), &content).err())
            .collect();
        for (shell, file) in [
            (Shell::Bash, "cloudtaskctl.bash"),
            (Shell::Zsh, "_cloudtaskctl"),
            (Shell::Fish, "cloudtaskctl.fish"),
        ] {
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut cmd, "cloudtaskctl", &mut buf);
            failures.extend(check(&repo().join("completions").join(file), &buf).err());
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}

#[cfg(test)]
mod help {
    use clap::CommandFactory;

    fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
        let subs: Vec<&clap::Command> = cmd
            .get_subcommands()
            .filter(|s| s.get_name() != "help")
            .collect();
        if subs.is_empty() {
            let has = cmd
                .get_after_help()
                .is_some_and(|h| h.to_string().contains("Example"));
            if !has {
                missing.push(path.to_string());
            }
        }
        for s in subs {
            walk(s, &format!("{path} {}", s.get_name()), missing);
        }
    }

    #[test]
    fn every_command_shows_an_example_in_its_help() {
        let mut missing = Vec::new();
        walk(&super::Cli::command(), "cloudtaskctl", &mut missing);
        assert!(missing.is_empty(), "no example in --help of: {missing:?}");
    }
}

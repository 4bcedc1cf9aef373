//! `cloudtaskctl user …`, `token …` and `whoami`: users, their passwords and grants, and
//! API tokens.

use std::io::{IsTerminal, Read};

use clap::Subcommand;
use cloudtask_shared::api::{
    CreateToken, CreateUser, Grant, IssuedToken, Role, SetPassword, TokenView, UserView, WhoAmI,
};
use reqwest::Method;

use crate::client::{Client, Exit, Failure, Result, enc};
use crate::table::{self, Output, print_json};

#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// List users and their grants (admins).
    #[command(after_help = "Example:\n  cloudtaskctl user ls -o json")]
    Ls,
    /// Create a user; the password is prompted without echo, or read from --password-stdin.
    #[command(
        after_help = "Examples:\n  cloudtaskctl user create ann --role editor --group ops\n  cloudtaskctl user create ci-bot --role viewer --password-stdin < pw"
    )]
    Create {
        name: String,
        /// A role to grant (admin, editor, operator, viewer).
        #[arg(long)]
        role: Option<Role>,
        /// The groups the role is for (repeat; none: all groups).
        #[arg(long = "group")]
        groups: Vec<String>,
        #[arg(long)]
        password_stdin: bool,
        /// Where alerts naming `user:NAME` go.
        #[arg(long)]
        email: Option<String>,
    },
    /// Set (or, without an address, clear) where alerts naming `user:NAME` go: your own, or
    /// anyone's as an admin.
    #[command(after_help = "Example:\n  cloudtaskctl user set-email ann ann@example.com")]
    SetEmail { name: String, email: Option<String> },
    /// Delete a user with its sessions and tokens (not the last admin).
    #[command(after_help = "Example:\n  cloudtaskctl user rm ann")]
    Rm { name: String },
    /// Set a password: your own (asks the current one), or, as an admin, anyone's.
    #[command(
        after_help = "Examples:\n  cloudtaskctl user passwd\n  cloudtaskctl user passwd ann --password-stdin < pw"
    )]
    Passwd {
        /// The user (default: you).
        name: Option<String>,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Grant a role, in some groups or (no --group) in all.
    #[command(
        after_help = "Example:\n  cloudtaskctl user grant ann operator --group ops --group web"
    )]
    Grant {
        name: String,
        role: Role,
        #[arg(long = "group")]
        groups: Vec<String>,
    },
    /// Take a role away, in some groups or (no --group) the all-groups grant.
    #[command(after_help = "Example:\n  cloudtaskctl user revoke ann operator --group ops")]
    Revoke {
        name: String,
        role: Role,
        #[arg(long = "group")]
        groups: Vec<String>,
    },
}

/// Reads a secret: one line from stdin when asked (scripts), else a prompt without echo.
pub fn read_secret(prompt: &str, from_stdin: bool) -> Result<String> {
    let secret = if from_stdin {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        s.lines().next().unwrap_or_default().to_string()
    } else if std::io::stdin().is_terminal() {
        rpassword::prompt_password(prompt)?
    } else {
        return Err(Failure::new(
            Exit::Usage,
            format!(
                "{} needed: not on a terminal to prompt; use --password-stdin",
                prompt.trim_end_matches(": ")
            ),
        ));
    };
    if secret.is_empty() {
        return Err(Failure::new(Exit::Usage, "the password is empty"));
    }
    Ok(secret)
}

/// A new password, typed twice on a terminal.
fn new_password(from_stdin: bool) -> Result<String> {
    let first = read_secret("New password: ", from_stdin)?;
    if !from_stdin {
        let again = read_secret("Again: ", false)?;
        if again != first {
            return Err(Failure::new(Exit::Usage, "the passwords differ"));
        }
    }
    Ok(first)
}

fn grants(role: Option<Role>, groups: Vec<String>) -> Vec<Grant> {
    match (role, groups.is_empty()) {
        (None, _) => vec![],
        (Some(role), true) => vec![Grant { role, group: None }],
        (Some(role), false) => groups
            .into_iter()
            .map(|g| Grant {
                role,
                group: Some(g),
            })
            .collect(),
    }
}

fn describe(grants: &[Grant]) -> String {
    if grants.is_empty() {
        return "-".into();
    }
    grants
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

pub async fn user(c: &Client, cmd: UserCmd, out: Output) -> Result<()> {
    match cmd {
        UserCmd::Ls => {
            let users: Vec<UserView> = c.get("/users").await?;
            if out.json() {
                return print_json(&users);
            }
            let rows: Vec<Vec<String>> = users
                .iter()
                .map(|u| {
                    vec![
                        u.name.clone(),
                        describe(&u.grants),
                        table::when(Some(u.created_at)),
                        u.created_by.clone(),
                    ]
                })
                .collect();
            table::print(&["NAME", "GRANTS", "CREATED", "BY"], &rows);
        }
        UserCmd::Create {
            name,
            role,
            groups,
            password_stdin,
            email,
        } => {
            if role.is_none() && !groups.is_empty() {
                return Err(Failure::new(Exit::Usage, "--group needs --role"));
            }
            let body = CreateUser {
                name: name.clone(),
                password: new_password(password_stdin)?,
                grants: grants(role, groups),
                email,
            };
            let u: UserView = c.send_json(Method::POST, "/users", &body).await?;
            if out.json() {
                return print_json(&u);
            }
            println!("user {:?} created ({})", u.name, describe(&u.grants));
        }
        UserCmd::SetEmail { name, email } => {
            let body = cloudtask_shared::api::SetEmail {
                email: email.clone(),
            };
            c.send_empty(Method::PUT, &format!("/users/{}/email", enc(&name)), &body)
                .await?;
            match email {
                Some(e) => println!("alerts to user:{name} go to {e}"),
                None => println!("user {name} has no e-mail address now"),
            }
        }
        UserCmd::Rm { name } => {
            c.delete(&format!("/users/{}", enc(&name))).await?;
            println!("user {name:?} deleted");
        }
        UserCmd::Passwd {
            name,
            password_stdin,
        } => {
            let me: WhoAmI = c.get("/whoami").await?;
            let name = match name.or(me.user.clone()) {
                Some(n) => n,
                None => {
                    return Err(Failure::new(
                        Exit::Usage,
                        "this token is not a user's: name the user",
                    ));
                }
            };
            let own =
                me.user.as_deref() == Some(name.as_str()) && me.principal.starts_with("user:");
            let admin = me.grants.iter().any(|g| g.role == Role::Admin);
            let (current, password) = if own && !admin {
                if password_stdin {
                    let mut text = String::new();
                    std::io::stdin().read_to_string(&mut text)?;
                    let mut lines = text.lines();
                    match (lines.next(), lines.next()) {
                        (Some(cur), Some(new)) if !cur.is_empty() && !new.is_empty() => {
                            (Some(cur.to_string()), new.to_string())
                        }
                        _ => {
                            return Err(Failure::new(
                                Exit::Usage,
                                "--password-stdin: the current password on the first line, the new one on the second",
                            ));
                        }
                    }
                } else {
                    (
                        Some(read_secret("Current password: ", false)?),
                        new_password(false)?,
                    )
                }
            } else {
                (None, new_password(password_stdin)?)
            };
            c.send_empty(
                Method::PUT,
                &format!("/users/{}/password", enc(&name)),
                &SetPassword { password, current },
            )
            .await?;
            println!("password of {name:?} set; its sessions have ended");
        }
        UserCmd::Grant { name, role, groups } => {
            let mut now = Vec::new();
            for g in grants(Some(role), groups) {
                now = c
                    .send_json(Method::POST, &format!("/users/{}/grants", enc(&name)), &g)
                    .await?;
            }
            print_grants(&name, &now, out)?;
        }
        UserCmd::Revoke { name, role, groups } => {
            let mut now = Vec::new();
            for g in grants(Some(role), groups) {
                let mut q = format!("/users/{}/grants?role={role}", enc(&name));
                if let Some(group) = &g.group {
                    q.push_str(&format!("&group={}", enc(group)));
                }
                now = c
                    .send_json(Method::DELETE, &q, &serde_json::Value::Null)
                    .await?;
            }
            print_grants(&name, &now, out)?;
        }
    }
    Ok(())
}

fn print_grants(name: &str, grants: &[Grant], out: Output) -> Result<()> {
    if out.json() {
        return print_json(&grants);
    }
    println!("{name:?} now has {}", describe(grants));
    Ok(())
}

pub async fn whoami(c: &Client, out: Output) -> Result<()> {
    let me: WhoAmI = c.get("/whoami").await?;
    if out.json() {
        return print_json(&me);
    }
    println!("{}", me.principal);
    println!("grants: {}", describe(&me.grants));
    if let Some(at) = me.expires_at {
        println!("expires: {}", table::when(Some(at)));
    }
    Ok(())
}

#[derive(Debug, Subcommand)]
pub enum TokenCmd {
    /// Make an API token for scripts and CI: printed once, with an expiry, and at most your
    /// own rights (all of them unless --role is given).
    #[command(
        after_help = "Examples:\n  cloudtaskctl token create deploy --expires-in 30d --role editor --group ops\n  CLOUDTASK_TOKEN=$(cloudtaskctl token create ci --expires-in 7d -o json | jq -r .token)"
    )]
    Create {
        name: String,
        /// How long it lasts (`30d`, `12h`; at most the center's --max-token-ttl).
        #[arg(long)]
        expires_in: String,
        #[arg(long)]
        role: Option<Role>,
        #[arg(long = "group")]
        groups: Vec<String>,
    },
    /// List your API tokens (--all: everyone's, for admins), with their last use.
    #[command(after_help = "Example:\n  cloudtaskctl token ls -o wide")]
    Ls {
        #[arg(long)]
        all: bool,
    },
    /// Revoke one of your API tokens (--user: someone else's, for admins).
    #[command(after_help = "Example:\n  cloudtaskctl token revoke deploy")]
    Revoke {
        name: String,
        #[arg(long)]
        user: Option<String>,
    },
}

pub async fn token(c: &Client, cmd: TokenCmd, out: Output) -> Result<()> {
    match cmd {
        TokenCmd::Create {
            name,
            expires_in,
            role,
            groups,
        } => {
            if role.is_none() && !groups.is_empty() {
                return Err(Failure::new(Exit::Usage, "--group needs --role"));
            }
            let body = CreateToken {
                name,
                expires_in,
                grants: grants(role, groups),
            };
            let t: IssuedToken = c.send_json(Method::POST, "/tokens", &body).await?;
            table::print_issued("token", &t, out)?;
        }
        TokenCmd::Ls { all } => {
            let list: Vec<TokenView> = c
                .get(if all { "/tokens?all=true" } else { "/tokens" })
                .await?;
            if out.json() {
                return print_json(&list);
            }
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|t| {
                    vec![
                        t.name.clone(),
                        t.user.clone(),
                        if t.grants.is_empty() {
                            "all of the user's".to_string()
                        } else {
                            describe(&t.grants)
                        },
                        table::when(t.expires_at),
                        table::when(t.last_used_at),
                        t.last_used_from.clone().unwrap_or_else(|| "-".into()),
                    ]
                })
                .collect();
            table::print(
                &["NAME", "USER", "RIGHTS", "EXPIRES", "LAST USED", "FROM"],
                &rows,
            );
        }
        TokenCmd::Revoke { name, user } => {
            let mut path = format!("/tokens/{}", enc(&name));
            if let Some(u) = &user {
                path.push_str(&format!("?user={}", enc(u)));
            }
            c.delete(&path).await?;
            println!("token {name:?} revoked");
        }
    }
    Ok(())
}

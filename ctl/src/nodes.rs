//! `cluster` and `node`: clusters, live nodes, the join tokens nodes join with, and revoking
//! a node's credential.

use clap::Subcommand;
use cloudtask_shared::api::{ClusterView, CreateJoinToken, IssuedToken, JoinTokenView, NodeView};
use reqwest::Method;

use crate::client::{Client, Exit, Failure, Result, enc};
use crate::table::{self, Output, print_json};

#[derive(Debug, Subcommand)]
pub enum ClusterCmd {
    /// List clusters with their live node and task counts.
    #[command(after_help = "Example:\n  cloudtaskctl cluster ls")]
    Ls,
    /// Make, list and revoke join tokens (admins): an agent started with one joins and gets
    /// its own credential.
    #[command(subcommand)]
    Token(JoinTokenCmd),
}

#[derive(Debug, Subcommand)]
pub enum JoinTokenCmd {
    /// Make a join token: printed once, with an expiry; --cluster limits it to one cluster.
    #[command(
        after_help = "Example:\n  cloudtaskctl cluster token create rack-4 --cluster prod --expires-in 24h > join.token\n  cloudtask-agent --cluster prod --join-token-file join.token ..."
    )]
    Create {
        name: String,
        /// The one cluster it admits nodes to (default: any).
        #[arg(long)]
        cluster: Option<String>,
        /// How long it lasts (`24h`, `7d`; at most the center's --max-token-ttl).
        #[arg(long, default_value = "24h")]
        expires_in: String,
    },
    /// List join tokens with their last use.
    #[command(after_help = "Example:\n  cloudtaskctl cluster token ls")]
    Ls,
    /// Revoke a join token: it joins no more nodes (nodes it joined keep their credentials).
    #[command(after_help = "Example:\n  cloudtaskctl cluster token revoke rack-4")]
    Revoke { name: String },
}

#[derive(Debug, Subcommand)]
pub enum NodeCmd {
    /// List live nodes.
    #[command(after_help = "Example:\n  cloudtaskctl node ls --cluster batch -o wide")]
    Ls {
        #[arg(long)]
        cluster: Option<String>,
    },
    /// Show one live node.
    #[command(after_help = "Example:\n  cloudtaskctl node show worker-3")]
    Show {
        name: String,
        #[arg(long)]
        cluster: Option<String>,
    },
    /// Revoke a node's credential (admins): the center refuses it from now on and moves its
    /// tasks. The node joins again only with a join token, after its node.token is removed.
    #[command(after_help = "Example:\n  cloudtaskctl node revoke worker-3 --cluster prod")]
    Revoke {
        name: String,
        #[arg(long, default_value = cloudtask_shared::DEFAULT_CLUSTER)]
        cluster: String,
    },
}

pub async fn cluster(c: &Client, cmd: ClusterCmd, out: Output) -> Result<()> {
    match cmd {
        ClusterCmd::Ls => {
            let clusters: Vec<ClusterView> = c.get("/clusters").await?;
            if out.json() {
                return print_json(&clusters);
            }
            table::clusters(&clusters);
        }
        ClusterCmd::Token(JoinTokenCmd::Create {
            name,
            cluster,
            expires_in,
        }) => {
            let body = CreateJoinToken {
                name,
                cluster,
                expires_in,
            };
            let t: IssuedToken = c.send_json(Method::POST, "/join-tokens", &body).await?;
            table::print_issued("join token", &t, out)?;
        }
        ClusterCmd::Token(JoinTokenCmd::Ls) => {
            let list: Vec<JoinTokenView> = c.get("/join-tokens").await?;
            if out.json() {
                return print_json(&list);
            }
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|t| {
                    vec![
                        t.name.clone(),
                        t.cluster.clone().unwrap_or_else(|| "any".into()),
                        table::when(t.expires_at),
                        table::when(t.last_used_at),
                        t.last_used_from.clone().unwrap_or_else(|| "-".into()),
                    ]
                })
                .collect();
            table::print(&["NAME", "CLUSTER", "EXPIRES", "LAST USED", "FROM"], &rows);
        }
        ClusterCmd::Token(JoinTokenCmd::Revoke { name }) => {
            c.delete(&format!("/join-tokens/{}", enc(&name))).await?;
            println!("join token {name:?} revoked");
        }
    }
    Ok(())
}

pub async fn node(c: &Client, cmd: NodeCmd, out: Output) -> Result<()> {
    let list = |cluster: &Option<String>| {
        let q = cluster
            .as_ref()
            .map(|c| format!("?cluster={}", enc(c)))
            .unwrap_or_default();
        format!("/nodes{q}")
    };
    match cmd {
        NodeCmd::Ls { cluster } => {
            let nodes: Vec<NodeView> = c.get(&list(&cluster)).await?;
            if out.json() {
                return print_json(&nodes);
            }
            table::nodes(&nodes, out.wide());
        }
        NodeCmd::Show { name, cluster } => {
            let nodes: Vec<NodeView> = c.get(&list(&cluster)).await?;
            let Some(n) = nodes.into_iter().find(|n| n.info.name == name) else {
                return Err(Failure::new(
                    Exit::NotFound,
                    format!("no live node named {name:?}"),
                ));
            };
            if out.json() {
                return print_json(&n);
            }
            table::node(&n);
        }
        NodeCmd::Revoke { name, cluster } => {
            c.delete(&format!(
                "/nodes/{}/credential?cluster={}",
                enc(&name),
                enc(&cluster)
            ))
            .await?;
            println!("node {name:?} of cluster {cluster:?}: credential revoked; its tasks move");
        }
    }
    Ok(())
}

//! Node identity: join tokens an admin makes, the credential each node gets by joining with
//! one (bound to its name and cluster), revoking either, and screening a node's reports
//! against the placement history (a node reports only runs of tasks it held).

use std::collections::HashSet;
use std::time::Duration;

use cloudtask_shared::api::{
    CreateJoinToken, ErrorCode, IssuedToken, JoinRequest, JoinTokenView, NodeCredential,
    RefusedRun, RunReport,
};
use cloudtask_shared::{RunStatus, validate_name};
use jiff::{SignedDuration, Timestamp};

use super::tokens::expiry;
use super::{Error, Result, Service};
use crate::auth::{self, Principal, Who};
use crate::store::{Effects, Placement, TokenKind, TokenRow};

/// How far a node's clock (and so its runs' instants) may be from the center's: a report is
/// checked against what the node held from this long before the run's instant.
pub const CLOCK_SKEW: SignedDuration = SignedDuration::from_secs(60);

fn new_row(hash: String, name: &str, kind: TokenKind, cluster: Option<String>) -> TokenRow {
    TokenRow {
        hash,
        name: name.to_string(),
        kind,
        user: None,
        scope: None,
        cluster,
        created_at: Timestamp::now(),
        expires_at: None,
        last_used_at: None,
        last_used_from: None,
    }
}

impl Service {
    /// Makes a join token (shown once); `max_ttl` bounds its life.
    pub async fn create_join_token(
        &self,
        who: &Principal,
        req: CreateJoinToken,
        max_ttl: Duration,
    ) -> Result<IssuedToken> {
        validate_name("name", &req.name)?;
        if let Some(c) = &req.cluster {
            validate_name("cluster", c)?;
        }
        let token = auth::generate()?;
        let expires_at = expiry(Timestamp::now(), &req.expires_in, max_ttl)?;
        let row = TokenRow {
            expires_at: Some(expires_at),
            ..new_row(
                auth::hash(&token),
                &req.name,
                TokenKind::Join,
                req.cluster.clone(),
            )
        };
        let admits = req.cluster.as_deref().unwrap_or("any cluster");
        let fx = Self::effects(
            who,
            "join-token.create",
            &req.name,
            &format!("admits nodes to {admits}, until {expires_at}"),
            vec![],
        );
        self.store.add_token(&row, &fx).await?;
        Ok(IssuedToken {
            token,
            name: req.name,
            expires_at,
        })
    }

    pub async fn join_tokens(&self) -> Result<Vec<JoinTokenView>> {
        Ok(self
            .store
            .tokens(Some(TokenKind::Join), None)
            .await?
            .into_iter()
            .map(|t| JoinTokenView {
                name: t.name,
                cluster: t.cluster,
                created_at: t.created_at,
                expires_at: t.expires_at,
                last_used_at: t.last_used_at,
                last_used_from: t.last_used_from,
            })
            .collect())
    }

    /// Revokes a join token: it joins no more nodes (those it joined keep their credentials).
    pub async fn revoke_join_token(&self, who: &Principal, name: &str) -> Result<()> {
        let found = self
            .store
            .tokens(Some(TokenKind::Join), None)
            .await?
            .into_iter()
            .find(|t| t.name == name)
            .ok_or_else(|| {
                Error::new(ErrorCode::NotFound, format!("no join token named {name:?}"))
            })?;
        let fx = Self::effects(who, "join-token.revoke", name, "", vec![]);
        self.store.delete_token(&found.hash, &fx).await?;
        Ok(())
    }

    /// A node joins under a join token and gets its credential (shown once). A node that
    /// has one already is refused (`name_taken`): an admin revokes it first, so a stolen
    /// join token cannot take over a running node's name.
    pub async fn join(&self, who: &Principal, req: JoinRequest) -> Result<NodeCredential> {
        let Who::Joiner { cluster, .. } = &who.who else {
            return Err(Error::new(
                ErrorCode::Forbidden,
                format!("forbidden: {} is not a join token", who.name),
            ));
        };
        validate_name("node", &req.node)?;
        validate_name("cluster", &req.cluster)?;
        if let Some(only) = cluster.as_deref().filter(|c| *c != req.cluster) {
            return Err(Error::new(
                ErrorCode::Forbidden,
                format!(
                    "forbidden: {} admits nodes to cluster {only:?} only, not {:?}",
                    who.name, req.cluster
                ),
            ));
        }
        let token = auth::generate()?;
        let row = new_row(
            auth::hash(&token),
            &req.node,
            TokenKind::Node,
            Some(req.cluster.clone()),
        );
        let fx = Self::effects(
            who,
            "node.join",
            &format!("{}/{}", req.cluster, req.node),
            "",
            vec![],
        );
        self.store.add_token(&row, &fx).await?;
        self.committed(true);
        Ok(NodeCredential {
            token,
            node: req.node,
            cluster: req.cluster,
        })
    }

    /// Revokes a node's credential: the center refuses it from now on, and its tasks move to
    /// the nodes that have one.
    pub async fn revoke_node(&self, who: &Principal, node: &str, cluster: &str) -> Result<()> {
        let found = self.node_credential(node, cluster).await?.ok_or_else(|| {
            Error::new(
                ErrorCode::NotFound,
                format!("node {node:?} of cluster {cluster:?} has no credential"),
            )
        })?;
        let fx = Self::effects(who, "node.revoke", &format!("{cluster}/{node}"), "", vec![]);
        self.store.delete_token(&found.hash, &fx).await?;
        self.committed(true);
        Ok(())
    }

    async fn node_credential(&self, node: &str, cluster: &str) -> Result<Option<TokenRow>> {
        Ok(self
            .store
            .tokens(Some(TokenKind::Node), None)
            .await?
            .into_iter()
            .find(|t| t.name == node && t.cluster.as_deref() == Some(cluster)))
    }

    /// The standalone center's own node: a fresh credential at every start (the one of the
    /// last start is replaced), handed to the in-process agent.
    pub async fn local_node_credential(&self, node: &str, cluster: &str) -> Result<String> {
        let center = Principal::node("center", cluster);
        if let Some(old) = self.node_credential(node, cluster).await? {
            self.store
                .delete_token(&old.hash, &Effects::default())
                .await?;
        }
        let token = auth::generate()?;
        let row = new_row(
            auth::hash(&token),
            node,
            TokenKind::Node,
            Some(cluster.to_string()),
        );
        let fx = Self::effects(
            &center,
            "node.join",
            &format!("{cluster}/{node}"),
            "standalone: the center's own node",
            vec![],
        );
        self.store.add_token(&row, &fx).await?;
        Ok(token)
    }

    /// The (node, cluster) pairs that have a credential: the only nodes tasks are placed on.
    pub async fn credentialed_nodes(&self) -> Result<HashSet<(String, String)>> {
        Ok(self
            .store
            .tokens(Some(TokenKind::Node), None)
            .await?
            .into_iter()
            .map(|t| (t.name, t.cluster.unwrap_or_default()))
            .collect())
    }

    /// Splits a node's reports into those it may make and those it may not: a report must be
    /// of a run of this node, and either of a run the store has on this node, or of a run of
    /// a task the node held at some time since the run's instant (less [`CLOCK_SKEW`]) — a
    /// node may record an instant late (launch-ahead, a misfire's catch-up, a spool sent
    /// after an outage), never a task it never had. A run the store has on another node,
    /// taken or finished, is that node's. Refusals are audited (`report.refused`).
    pub async fn screen_reports<'a>(
        &self,
        who: &Principal,
        reports: &'a [RunReport],
    ) -> Result<(Vec<&'a RunReport>, Vec<RefusedRun>)> {
        let Some((me, cluster)) = who.node_of() else {
            return Err(Error::new(
                ErrorCode::Forbidden,
                format!("forbidden: {} is not a node and reports no runs", who.name),
            ));
        };
        let ids: Vec<&str> = reports.iter().map(|r| r.run.id.as_str()).collect();
        let stored = self.store.run_statuses(&ids).await?;
        let mut verdicts: Vec<Option<String>> = Vec::with_capacity(reports.len());
        let mut to_check = Vec::new();
        for (i, r) in reports.iter().enumerate() {
            let run = &r.run;
            let verdict = if run.node != me {
                Some(format!("the report names node {:?}, not {me:?}", run.node))
            } else {
                match stored.get(&run.id) {
                    Some((_, owner)) if owner == me => None,
                    Some((status, owner)) if *status != RunStatus::Scheduled => {
                        Some(format!("run {} is node {owner:?}'s ({status})", run.id))
                    }
                    // New, or a request not taken yet: the node must have held the task.
                    _ => {
                        let since = run
                            .scheduled_at
                            .checked_sub(CLOCK_SKEW)
                            .unwrap_or(run.scheduled_at);
                        to_check.push((
                            i,
                            Placement {
                                task: run.task.clone(),
                                node: me.to_string(),
                                cluster: cluster.to_string(),
                            },
                            since,
                        ));
                        None
                    }
                }
            };
            verdicts.push(verdict);
        }
        if !to_check.is_empty() {
            let checks: Vec<(Placement, Timestamp)> = to_check
                .iter()
                .map(|(_, p, since)| (p.clone(), *since))
                .collect();
            let held = self.store.held(&checks, Timestamp::now()).await?;
            for ((i, p, _), held) in to_check.iter().zip(held) {
                if !held {
                    verdicts[*i] = Some(format!(
                        "node {me:?} did not hold task {} at the run's instant or since",
                        p.task
                    ));
                }
            }
        }
        let mut keep = Vec::new();
        let mut refused = Vec::new();
        for (r, verdict) in reports.iter().zip(verdicts) {
            match verdict {
                None => keep.push(r),
                Some(reason) => refused.push(RefusedRun {
                    run: r.run.id.clone(),
                    reason,
                }),
            }
        }
        for r in &refused {
            tracing::warn!(node = me, run = %r.run, reason = %r.reason, "report refused");
            let fx = Self::effects(who, "report.refused", &r.run, &r.reason, vec![]);
            self.store.commit_effects(&fx).await?;
        }
        Ok((keep, refused))
    }
}

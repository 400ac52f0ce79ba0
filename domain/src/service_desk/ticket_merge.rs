//! Merging a ticket into another and splitting messages off into a new one.
//!
//! Merge B into A: B's messages (with their attachments), time entries,
//! monitoring alerts and watchers move to A; watchers once each, and B's
//! contact becomes a watcher of A when A's contact is someone else. B is
//! closed with `merged_into` = A. Mail to B's thread follows the pointer
//! ([`tickets::follow_merges`]). A's clocks run on; B's stop as it closes.
//! The merge closes B whatever its checklist says (its items stay on B):
//! the work goes on on A, whose own checklist still guards resolving it.
//!
//! Refused: B into itself (422 `same_ticket`), into a merged ticket (409
//! `target_merged`), B already merged elsewhere (409 `already_merged`),
//! across clients (409 `different_clients`: A's client must be B's, or B
//! has none, as mail from an unknown sender). Merging B into A again is the
//! first merge's result, nothing moved twice.
//!
//! Split: the named messages of a ticket (with their attachments) move to
//! a new ticket with the same client, contact, asset, requester, priority,
//! assignee, tags and mailbox. At least one message stays (422
//! `all_messages`); a message of another ticket is 422 `not_found`.
//!
//! Each merge and split is recorded once for both tickets' history
//! ([`moves`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::kernel::events;
use crate::kernel::text::text_enum;
use crate::kernel::validation::ValidationErrors;
use crate::service_desk::ticket_watchers;
use crate::service_desk::tickets::{self, MAX_BULK, Ticket, TicketDraft, TicketStatus};
use crate::{DomainError, DomainResult, TenantTx, TicketId, TicketMessageId, UserId};

text_enum!(MoveKind {
    /// `from` was merged into `to`.
    Merge = "merge",
    /// `to` was split off `from`.
    Split = "split",
});

/// What moved from one ticket to another.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Moved {
    pub messages: i32,
    pub attachments: i32,
    pub time_entries: i32,
    /// Watchers the target gained (someone watching both counts once).
    pub watchers: i32,
}

/// One merge or split, as both tickets' history shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TicketMove {
    pub kind: MoveKind,
    /// The ticket the messages left (the merged one; the one split).
    pub from_ticket_id: TicketId,
    pub from_number: i64,
    /// The ticket they went to (the survivor; the new one).
    pub to_ticket_id: TicketId,
    pub to_number: i64,
    pub moved: Moved,
    pub user_id: Option<UserId>,
    pub at: DateTime<Utc>,
}

/// A merge done (or found done before).
#[derive(Debug, Clone)]
pub struct Merged {
    /// The ticket merged into (A).
    pub into: Ticket,
    /// The merged ticket (B), closed.
    pub merged: Ticket,
    pub moved: Moved,
    /// False when B was merged into A already and nothing moved now.
    pub changed: bool,
}

/// A ticket named by its id or its number (`12` or `#12`).
pub async fn resolve_ref(tx: &mut TenantTx, r: &str) -> DomainResult<Ticket> {
    let r = r.trim();
    if let Ok(id) = r.parse::<TicketId>() {
        return tickets::get(tx, id).await;
    }
    let digits = r.strip_prefix('#').unwrap_or(r);
    match digits.parse::<i64>() {
        Ok(n) if n > 0 => tickets::by_number(tx, n)
            .await?
            .ok_or(DomainError::not_found("ticket")),
        _ => {
            let mut v = ValidationErrors::new();
            v.add("into", "invalid", "give a ticket id or a ticket number");
            Err(DomainError::Validation(v))
        }
    }
}

/// Merges ticket `id` (B) into `into` (A, an id or number): see the module
/// documentation.
pub async fn merge(
    tx: &mut TenantTx,
    id: TicketId,
    into: &str,
    user: Option<UserId>,
) -> DomainResult<Merged> {
    // B first, so another tenant's B is a 404 whatever `into` names.
    tickets::get(tx, id).await?;
    let target = resolve_ref(tx, into).await?;
    if target.id == id {
        let mut v = ValidationErrors::new();
        v.add(
            "into",
            "same_ticket",
            "a ticket cannot be merged into itself",
        );
        return Err(DomainError::Validation(v));
    }
    // Both locked, in id order (two merges at once lock alike).
    let (b, a) = if id < target.id {
        let b = tickets::lock(tx, id).await?;
        (b, tickets::lock(tx, target.id).await?)
    } else {
        let a = tickets::lock(tx, target.id).await?;
        (tickets::lock(tx, id).await?, a)
    };
    if b.merged_into == Some(a.id) {
        let moved = last_move(tx, MoveKind::Merge, b.id, a.id)
            .await?
            .unwrap_or_default();
        return Ok(Merged {
            into: a,
            merged: b,
            moved,
            changed: false,
        });
    }
    if let Some(other) = b.merged_into {
        return Err(DomainError::conflict_with(
            "already_merged",
            "the ticket was merged into another ticket already",
            serde_json::json!({ "merged_into": other }),
        ));
    }
    if let Some(further) = a.merged_into {
        return Err(DomainError::conflict_with(
            "target_merged",
            "that ticket was itself merged into another: merge into that one",
            serde_json::json!({ "merged_into": further }),
        ));
    }
    if b.client_id.is_some() && b.client_id != a.client_id {
        return Err(DomainError::conflict(
            "different_clients",
            "the tickets belong to different clients",
        ));
    }
    let tenant = tx.tenant();
    let messages = move_rows(tx, "ticket_messages", b.id, a.id).await?;
    let attachments = move_rows(tx, "ticket_attachments", b.id, a.id).await?;
    let time_entries = sqlx::query(
        "UPDATE time_entries SET ticket_id = $3, \
         client_id = CASE WHEN invoice_id IS NULL THEN COALESCE(client_id, $4) ELSE client_id END \
         WHERE company_id = $1 AND ticket_id = $2",
    )
    .bind(tenant)
    .bind(b.id)
    .bind(a.id)
    .bind(a.client_id)
    .execute(tx.conn())
    .await?
    .rows_affected();
    move_rows(tx, "rmm_alerts", b.id, a.id).await?;
    let mut watchers = sqlx::query(
        "INSERT INTO ticket_watchers (id, company_id, ticket_id, user_id, contact_id, added_by, created_at) \
         SELECT gen_random_uuid(), company_id, $3, user_id, contact_id, added_by, created_at \
         FROM ticket_watchers WHERE company_id = $1 AND ticket_id = $2 \
         AND (contact_id IS NULL OR contact_id IS DISTINCT FROM $4::uuid) \
         ON CONFLICT DO NOTHING",
    )
    .bind(tenant)
    .bind(b.id)
    .bind(a.id)
    .bind(a.contact_id)
    .execute(tx.conn())
    .await?
    .rows_affected();
    sqlx::query("DELETE FROM ticket_watchers WHERE company_id = $1 AND ticket_id = $2")
        .bind(tenant)
        .bind(b.id)
        .execute(tx.conn())
        .await?;
    if let Some(contact) = b.contact_id
        && Some(contact) != a.contact_id
        && ticket_watchers::add_contact(tx, a.id, contact).await?
    {
        watchers += 1;
    }
    rebuild_search(tx, &[a.id, b.id]).await?;
    sqlx::query(
        "UPDATE tickets SET merged_into = $3, updated_at = $4 WHERE company_id = $1 AND id = $2",
    )
    .bind(tenant)
    .bind(b.id)
    .bind(a.id)
    .bind(tx.now())
    .execute(tx.conn())
    .await?;
    sqlx::query("UPDATE tickets SET updated_at = $3 WHERE company_id = $1 AND id = $2")
        .bind(tenant)
        .bind(a.id)
        .bind(tx.now())
        .execute(tx.conn())
        .await?;
    tickets::change_status(tx, b.id, TicketStatus::Closed, user, false).await?;
    let moved = Moved {
        messages: count(messages),
        attachments: count(attachments),
        time_entries: count(time_entries),
        watchers: count(watchers),
    };
    record(tx, MoveKind::Merge, &b, &a, moved, user).await?;
    Ok(Merged {
        into: tickets::get(tx, a.id).await?,
        merged: tickets::get(tx, b.id).await?,
        moved,
        changed: true,
    })
}

/// Splits `message_ids` of ticket `id` off into a new ticket with
/// `subject`: see the module documentation. Returns the new ticket and
/// what moved.
pub async fn split(
    tx: &mut TenantTx,
    id: TicketId,
    message_ids: &[TicketMessageId],
    subject: &str,
    user: Option<UserId>,
) -> DomainResult<(Ticket, Moved)> {
    let t = tickets::lock(tx, id).await?;
    if t.merged_into.is_some() {
        return Err(DomainError::conflict(
            "ticket_merged",
            "the ticket was merged into another one: split that one",
        ));
    }
    let mut v = ValidationErrors::new();
    let subject = v.required_text("subject", subject, 300);
    let mut ids = message_ids.to_vec();
    ids.sort();
    ids.dedup();
    let tenant = tx.tenant();
    let mine: Vec<TicketMessageId> = sqlx::query_scalar(
        "SELECT id FROM ticket_messages WHERE company_id = $1 AND ticket_id = $2",
    )
    .bind(tenant)
    .bind(id)
    .fetch_all(tx.conn())
    .await?;
    let missing: Vec<String> = ids
        .iter()
        .filter(|m| !mine.contains(m))
        .map(|m| m.to_string())
        .collect();
    if ids.is_empty() || ids.len() > MAX_BULK {
        v.add(
            "message_ids",
            "out_of_range",
            format!("give 1 to {MAX_BULK} message ids"),
        );
    } else if !missing.is_empty() {
        v.add(
            "message_ids",
            "not_found",
            format!("no such messages on this ticket: {}", missing.join(", ")),
        );
    } else if ids.len() == mine.len() {
        v.add(
            "message_ids",
            "all_messages",
            "at least one message must stay on the ticket",
        );
    }
    v.finish()?;
    let new = tickets::insert(
        tx,
        TicketDraft {
            subject,
            client_id: t.client_id,
            contact_id: t.contact_id,
            asset_id: t.asset_id,
            requester_email: t.requester_email.clone(),
            requester_name: t.requester_name.clone(),
            priority: t.priority,
            assignee_id: t.assignee_id,
            source: t.source,
            tags: t.tags.clone(),
            mailbox_id: t.mailbox_id,
            linked_ticket_id: None,
        },
        user,
    )
    .await?;
    let messages = sqlx::query(
        "UPDATE ticket_messages SET ticket_id = $3 WHERE company_id = $1 AND ticket_id = $2 AND id = ANY($4)",
    )
    .bind(tenant)
    .bind(id)
    .bind(new.id)
    .bind(&ids)
    .execute(tx.conn())
    .await?
    .rows_affected();
    let attachments = sqlx::query(
        "UPDATE ticket_attachments SET ticket_id = $3 WHERE company_id = $1 AND ticket_id = $2 \
         AND message_id = ANY($4)",
    )
    .bind(tenant)
    .bind(id)
    .bind(new.id)
    .bind(&ids)
    .execute(tx.conn())
    .await?
    .rows_affected();
    // A public reply among them answered the new ticket too.
    sqlx::query(
        "UPDATE tickets SET first_response_at = (SELECT min(created_at) FROM ticket_messages \
         WHERE company_id = $1 AND ticket_id = $2 AND kind = 'reply') WHERE company_id = $1 AND id = $2",
    )
    .bind(tenant)
    .bind(new.id)
    .execute(tx.conn())
    .await?;
    sqlx::query("UPDATE tickets SET updated_at = $3 WHERE company_id = $1 AND id = $2")
        .bind(tenant)
        .bind(id)
        .bind(tx.now())
        .execute(tx.conn())
        .await?;
    rebuild_search(tx, &[id, new.id]).await?;
    let moved = Moved {
        messages: count(messages),
        attachments: count(attachments),
        ..Moved::default()
    };
    record(tx, MoveKind::Split, &t, &new, moved, user).await?;
    Ok((tickets::get(tx, new.id).await?, moved))
}

/// The merges and splits `ticket` took part in, oldest first.
pub async fn moves(tx: &mut TenantTx, ticket: TicketId) -> DomainResult<Vec<TicketMove>> {
    let tenant = tx.tenant();
    type MoveRow = (
        String,
        TicketId,
        i64,
        TicketId,
        i64,
        i32,
        i32,
        i32,
        i32,
        Option<UserId>,
        DateTime<Utc>,
    );
    let rows: Vec<MoveRow> = sqlx::query_as(
        "SELECT m.kind, m.from_ticket_id, f.number, m.to_ticket_id, t.number, m.messages, \
         m.attachments, m.time_entries, m.watchers, m.user_id, m.at \
         FROM ticket_moves m \
         JOIN tickets f ON f.company_id = m.company_id AND f.id = m.from_ticket_id \
         JOIN tickets t ON t.company_id = m.company_id AND t.id = m.to_ticket_id \
         WHERE m.company_id = $1 AND (m.from_ticket_id = $2 OR m.to_ticket_id = $2) \
         ORDER BY m.at, m.id",
    )
    .bind(tenant)
    .bind(ticket)
    .fetch_all(tx.conn())
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            Some(TicketMove {
                kind: MoveKind::parse(&r.0)?,
                from_ticket_id: r.1,
                from_number: r.2,
                to_ticket_id: r.3,
                to_number: r.4,
                moved: Moved {
                    messages: r.5,
                    attachments: r.6,
                    time_entries: r.7,
                    watchers: r.8,
                },
                user_id: r.9,
                at: r.10,
            })
        })
        .collect())
}

fn count(n: u64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Moves the rows of `table` (with `ticket_id`) from one ticket to another.
async fn move_rows(
    tx: &mut TenantTx,
    table: &'static str,
    from: TicketId,
    to: TicketId,
) -> DomainResult<u64> {
    let tenant = tx.tenant();
    Ok(sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE {table} SET ticket_id = $3 WHERE company_id = $1 AND ticket_id = $2"
    )))
    .bind(tenant)
    .bind(from)
    .bind(to)
    .execute(tx.conn())
    .await?
    .rows_affected())
}

/// Rebuilds the search vector of tickets whose thread changed (the
/// triggers of migration `20261205000062` only add new messages).
async fn rebuild_search(tx: &mut TenantTx, ids: &[TicketId]) -> DomainResult<()> {
    let tenant = tx.tenant();
    sqlx::query(
        "UPDATE tickets SET search = ticket_search_rebuild(company_id, id, subject) \
         WHERE company_id = $1 AND id = ANY($2)",
    )
    .bind(tenant)
    .bind(ids)
    .execute(tx.conn())
    .await?;
    Ok(())
}

async fn record(
    tx: &mut TenantTx,
    kind: MoveKind,
    from: &Ticket,
    to: &Ticket,
    moved: Moved,
    user: Option<UserId>,
) -> DomainResult<()> {
    let (tenant, now) = (tx.tenant(), tx.now());
    sqlx::query(
        "INSERT INTO ticket_moves (company_id, kind, from_ticket_id, to_ticket_id, messages, \
         attachments, time_entries, watchers, user_id, at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(tenant)
    .bind(kind.as_str())
    .bind(from.id)
    .bind(to.id)
    .bind(moved.messages)
    .bind(moved.attachments)
    .bind(moved.time_entries)
    .bind(moved.watchers)
    .bind(user)
    .bind(now)
    .execute(tx.conn())
    .await?;
    let event = match kind {
        MoveKind::Merge => events::TICKET_MERGED,
        MoveKind::Split => events::TICKET_SPLIT,
    };
    let payload = TicketMove {
        kind,
        from_ticket_id: from.id,
        from_number: from.number,
        to_ticket_id: to.id,
        to_number: to.number,
        moved,
        user_id: user,
        at: now,
    };
    events::emit(tx, event, Some(from.id.as_uuid()), &payload).await?;
    Ok(())
}

/// What the last `kind` move from `from` to `to` moved.
async fn last_move(
    tx: &mut TenantTx,
    kind: MoveKind,
    from: TicketId,
    to: TicketId,
) -> DomainResult<Option<Moved>> {
    let tenant = tx.tenant();
    let row: Option<(i32, i32, i32, i32)> = sqlx::query_as(
        "SELECT messages, attachments, time_entries, watchers FROM ticket_moves \
         WHERE company_id = $1 AND kind = $2 AND from_ticket_id = $3 AND to_ticket_id = $4 \
         ORDER BY id DESC LIMIT 1",
    )
    .bind(tenant)
    .bind(kind.as_str())
    .bind(from)
    .bind(to)
    .fetch_optional(tx.conn())
    .await?;
    Ok(
        row.map(|(messages, attachments, time_entries, watchers)| Moved {
            messages,
            attachments,
            time_entries,
            watchers,
        }),
    )
}

//! Projects: a client's pieces of work, their tasks, the tickets linked to
//! them, and their progress against budget.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::kernel::pagination::{Cursor, Page, PageRequest, like_pattern};
use crate::kernel::text::text_enum;
use crate::kernel::validation::ValidationErrors;
use crate::{
    ClientId, DomainError, DomainResult, ProjectId, TaskId, TenantTx, TicketId, UserId,
    customers::clients, identity::company, identity::users, kernel::money,
};

text_enum!(ProjectStatus {
    Planned = "planned",
    Active = "active",
    OnHold = "on_hold",
    Done = "done",
    Cancelled = "cancelled",
});

text_enum!(TaskStatus {
    Todo = "todo",
    InProgress = "in_progress",
    Done = "done",
    /// Cancelled tasks do not count towards progress.
    Cancelled = "cancelled",
});

/// Progress from tasks: done ÷ (all − cancelled).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Progress {
    pub tasks_total: i64,
    pub tasks_done: i64,
    pub tasks_cancelled: i64,
    /// Whole percent, rounded down; 0 without tasks.
    pub percent: i64,
}

impl Progress {
    pub fn of(total: i64, done: i64, cancelled: i64) -> Progress {
        let counted = total - cancelled;
        let percent = if counted > 0 { done * 100 / counted } else { 0 };
        Progress {
            tasks_total: total,
            tasks_done: done,
            tasks_cancelled: cancelled,
            percent,
        }
    }
}

/// Time logged on the project (its tasks and linked tickets included).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Spent {
    pub minutes: i64,
    /// minutes ÷ 60, to two decimals.
    #[schema(value_type = String)]
    pub hours: Decimal,
    /// Billable minutes × rate, in the company's currency.
    #[schema(value_type = String)]
    pub billable_amount: Decimal,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Project {
    pub id: ProjectId,
    pub client_id: ClientId,
    pub name: String,
    pub description: Option<String>,
    pub status: ProjectStatus,
    #[serde(default, deserialize_with = "crate::kernel::dates::de_opt")]
    pub start_date: Option<NaiveDate>,
    #[serde(default, deserialize_with = "crate::kernel::dates::de_opt")]
    pub due_date: Option<NaiveDate>,
    pub manager_id: Option<UserId>,
    #[schema(value_type = Option<String>)]
    pub budget_hours: Option<Decimal>,
    /// In the company's currency.
    #[schema(value_type = Option<String>)]
    pub budget_amount: Option<Decimal>,
    pub progress: Progress,
    pub spent: Spent,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct ProjectRow {
    id: ProjectId,
    client_id: ClientId,
    name: String,
    description: Option<String>,
    status: String,
    start_date: Option<NaiveDate>,
    due_date: Option<NaiveDate>,
    manager_id: Option<UserId>,
    budget_hours: Option<Decimal>,
    budget_amount: Option<Decimal>,
    tasks_total: i64,
    tasks_done: i64,
    tasks_cancelled: i64,
    minutes: i64,
    billable_amount: Decimal,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl ProjectRow {
    fn into_project(self, minor: u32) -> DomainResult<Project> {
        let status = ProjectStatus::parse(&self.status).ok_or_else(|| {
            DomainError::Internal(format!("unknown project status {:?}", self.status))
        })?;
        Ok(Project {
            id: self.id,
            client_id: self.client_id,
            name: self.name,
            description: self.description,
            status,
            start_date: self.start_date,
            due_date: self.due_date,
            manager_id: self.manager_id,
            budget_hours: self.budget_hours.map(|d| d.normalize()),
            budget_amount: self.budget_amount.map(|d| money::to_minor(d, minor)),
            progress: Progress::of(self.tasks_total, self.tasks_done, self.tasks_cancelled),
            spent: Spent {
                minutes: self.minutes,
                hours: money::to_minor(Decimal::from(self.minutes) / Decimal::from(60), 2),
                billable_amount: money::to_minor(self.billable_amount, minor),
            },
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// The project's columns with its task counts and logged time.
const SELECT: &str = "SELECT p.id, p.client_id, p.name, p.description, p.status, p.start_date, p.due_date, \
    p.manager_id, p.budget_hours, p.budget_amount, \
    (SELECT count(*) FROM project_tasks t WHERE t.company_id = p.company_id AND t.project_id = p.id) AS tasks_total, \
    (SELECT count(*) FROM project_tasks t WHERE t.company_id = p.company_id AND t.project_id = p.id \
        AND t.status = 'done') AS tasks_done, \
    (SELECT count(*) FROM project_tasks t WHERE t.company_id = p.company_id AND t.project_id = p.id \
        AND t.status = 'cancelled') AS tasks_cancelled, \
    (SELECT COALESCE(sum(e.minutes), 0)::int8 FROM time_entries e WHERE e.company_id = p.company_id \
        AND e.project_id = p.id) AS minutes, \
    (SELECT COALESCE(sum(e.minutes * e.rate / 60), 0) FROM time_entries e WHERE e.company_id = p.company_id \
        AND e.project_id = p.id AND e.billable) AS billable_amount, \
    p.created_at, p.updated_at FROM projects p";

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProject {
    pub client_id: ClientId,
    pub name: String,
    pub description: Option<String>,
    /// Default `planned`.
    pub status: Option<ProjectStatus>,
    #[serde(default, deserialize_with = "crate::kernel::dates::de_opt")]
    pub start_date: Option<NaiveDate>,
    #[serde(default, deserialize_with = "crate::kernel::dates::de_opt")]
    pub due_date: Option<NaiveDate>,
    /// An active tech or admin.
    pub manager_id: Option<UserId>,
    #[schema(value_type = Option<String>)]
    pub budget_hours: Option<Decimal>,
    #[schema(value_type = Option<String>)]
    pub budget_amount: Option<Decimal>,
}

/// A change to a project. Absent fields stay; `null` clears an optional one.
/// The client cannot change.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectPatch {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "crate::kernel::patch::nullable")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    pub status: Option<ProjectStatus>,
    #[serde(default, deserialize_with = "crate::kernel::dates::nullable")]
    #[schema(value_type = Option<NaiveDate>)]
    pub start_date: Option<Option<NaiveDate>>,
    #[serde(default, deserialize_with = "crate::kernel::dates::nullable")]
    #[schema(value_type = Option<NaiveDate>)]
    pub due_date: Option<Option<NaiveDate>>,
    #[serde(default, deserialize_with = "crate::kernel::patch::nullable")]
    #[schema(value_type = Option<UserId>)]
    pub manager_id: Option<Option<UserId>>,
    #[serde(default, deserialize_with = "crate::kernel::patch::nullable")]
    #[schema(value_type = Option<String>)]
    pub budget_hours: Option<Option<Decimal>>,
    #[serde(default, deserialize_with = "crate::kernel::patch::nullable")]
    #[schema(value_type = Option<String>)]
    pub budget_amount: Option<Option<Decimal>>,
}

#[derive(Debug, Clone, Default)]
pub struct ProjectFilter {
    pub client_id: Option<ClientId>,
    pub status: Option<ProjectStatus>,
    pub manager_id: Option<UserId>,
    /// Matches the name, case-insensitive.
    pub q: Option<String>,
}

struct Fields {
    name: String,
    description: Option<String>,
    status: ProjectStatus,
    start_date: Option<NaiveDate>,
    due_date: Option<NaiveDate>,
    manager_id: Option<UserId>,
    budget_hours: Option<Decimal>,
    budget_amount: Option<Decimal>,
}

const MAX_BUDGET: i64 = 1_000_000_000;

fn check_dates(
    v: &mut ValidationErrors,
    start: Option<NaiveDate>,
    due: Option<NaiveDate>,
    field: &str,
) {
    if let (Some(s), Some(d)) = (start, due)
        && d < s
    {
        v.add(
            field,
            "before_start",
            "the due date is before the start date",
        );
    }
}

fn validate(v: &mut ValidationErrors, f: Fields, minor: u32) -> Fields {
    check_dates(v, f.start_date, f.due_date, "due_date");
    if let Some(h) = f.budget_hours
        && (h.is_sign_negative() || h.scale() > 2 || h > Decimal::from(1_000_000))
    {
        v.add(
            "budget_hours",
            "invalid",
            "budget_hours must be from 0 to 1,000,000 with at most 2 decimals",
        );
    }
    if let Some(a) = f.budget_amount
        && (a.is_sign_negative() || a.scale() > minor || a > Decimal::from(MAX_BUDGET))
    {
        v.add(
            "budget_amount",
            "invalid",
            format!(
                "budget_amount must be from 0 to {MAX_BUDGET} with at most {minor} decimals (the company's currency)"
            ),
        );
    }
    Fields {
        name: v.required_text("name", &f.name, 200),
        description: v.optional_text("description", f.description.as_deref(), 10_000),
        ..f
    }
}

pub async fn get(tx: &mut TenantTx, id: ProjectId) -> DomainResult<Project> {
    let minor = company::currency_minor(tx).await?;
    let tenant = tx.tenant();
    let row: Option<ProjectRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE p.company_id = $1 AND p.id = $2"
    )))
    .bind(tenant)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?;
    row.ok_or(DomainError::not_found("project"))?
        .into_project(minor)
}

/// 404 unless the project exists here; its client otherwise. `FOR SHARE`
/// keeps it from being deleted under a writer.
pub async fn client_of(tx: &mut TenantTx, id: ProjectId) -> DomainResult<ClientId> {
    let tenant = tx.tenant();
    let found: Option<ClientId> = sqlx::query_scalar(
        "SELECT client_id FROM projects WHERE company_id = $1 AND id = $2 FOR SHARE",
    )
    .bind(tenant)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?;
    found.ok_or(DomainError::not_found("project"))
}

pub async fn list(
    tx: &mut TenantTx,
    f: &ProjectFilter,
    page: &PageRequest,
) -> DomainResult<Page<Project>> {
    let minor = company::currency_minor(tx).await?;
    const FILTER: &str = "p.company_id = $1 \
        AND ($2::uuid IS NULL OR p.client_id = $2) \
        AND ($3::text IS NULL OR p.status = $3) \
        AND ($4::uuid IS NULL OR p.manager_id = $4) \
        AND ($5::text IS NULL OR p.name ILIKE $5)";
    let tenant = tx.tenant();
    let q = f.q.as_deref().map(like_pattern);
    let status = f.status.map(ProjectStatus::as_str);
    let rows: Vec<ProjectRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE {FILTER} AND ($6::uuid IS NULL OR p.id < $6) ORDER BY p.id DESC LIMIT $7"
    )))
    .bind(tenant)
    .bind(f.client_id)
    .bind(status)
    .bind(f.manager_id)
    .bind(&q)
    .bind(page.after_id())
    .bind(page.fetch())
    .fetch_all(tx.conn())
    .await?;
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM projects p WHERE {FILTER}"
    )))
    .bind(tenant)
    .bind(f.client_id)
    .bind(status)
    .bind(f.manager_id)
    .bind(&q)
    .fetch_one(tx.conn())
    .await?;
    let rows = rows
        .into_iter()
        .map(|r| r.into_project(minor))
        .collect::<DomainResult<Vec<_>>>()?;
    Ok(Page::from_rows(rows, page, total, |p| Cursor {
        key: String::new(),
        id: p.id.as_uuid(),
    }))
}

pub async fn create(tx: &mut TenantTx, new: NewProject) -> DomainResult<Project> {
    let minor = company::currency_minor(tx).await?;
    let mut v = ValidationErrors::new();
    let f = validate(
        &mut v,
        Fields {
            name: new.name,
            description: new.description,
            status: new.status.unwrap_or(ProjectStatus::Planned),
            start_date: new.start_date,
            due_date: new.due_date,
            manager_id: new.manager_id,
            budget_hours: new.budget_hours,
            budget_amount: new.budget_amount,
        },
        minor,
    );
    v.finish()?;
    clients::ensure_exists(tx, new.client_id).await?;
    if let Some(m) = f.manager_id {
        users::check_staff(tx, m, "manager_id").await?;
    }
    let (tenant, now) = (tx.tenant(), tx.now());
    let id = ProjectId::new();
    sqlx::query(
        "INSERT INTO projects (id, company_id, client_id, name, description, status, start_date, due_date, \
         manager_id, budget_hours, budget_amount, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)",
    )
    .bind(id)
    .bind(tenant)
    .bind(new.client_id)
    .bind(f.name)
    .bind(f.description)
    .bind(f.status.as_str())
    .bind(f.start_date)
    .bind(f.due_date)
    .bind(f.manager_id)
    .bind(f.budget_hours)
    .bind(f.budget_amount)
    .bind(now)
    .execute(tx.conn())
    .await?;
    get(tx, id).await
}

pub async fn update(
    tx: &mut TenantTx,
    id: ProjectId,
    patch: ProjectPatch,
) -> DomainResult<Project> {
    let current = get(tx, id).await?;
    let minor = company::currency_minor(tx).await?;
    let mut v = ValidationErrors::new();
    let manager_changed = patch.manager_id.is_some_and(|m| m != current.manager_id);
    let f = validate(
        &mut v,
        Fields {
            name: patch.name.unwrap_or(current.name),
            description: patch.description.unwrap_or(current.description),
            status: patch.status.unwrap_or(current.status),
            start_date: patch.start_date.unwrap_or(current.start_date),
            due_date: patch.due_date.unwrap_or(current.due_date),
            manager_id: patch.manager_id.unwrap_or(current.manager_id),
            budget_hours: patch.budget_hours.unwrap_or(current.budget_hours),
            budget_amount: patch.budget_amount.unwrap_or(current.budget_amount),
        },
        minor,
    );
    v.finish()?;
    if manager_changed && let Some(m) = f.manager_id {
        users::check_staff(tx, m, "manager_id").await?;
    }
    let (tenant, now) = (tx.tenant(), tx.now());
    sqlx::query(
        "UPDATE projects SET name = $3, description = $4, status = $5, start_date = $6, due_date = $7, \
         manager_id = $8, budget_hours = $9, budget_amount = $10, updated_at = $11 \
         WHERE company_id = $1 AND id = $2",
    )
    .bind(tenant)
    .bind(id)
    .bind(f.name)
    .bind(f.description)
    .bind(f.status.as_str())
    .bind(f.start_date)
    .bind(f.due_date)
    .bind(f.manager_id)
    .bind(f.budget_hours)
    .bind(f.budget_amount)
    .bind(now)
    .execute(tx.conn())
    .await?;
    get(tx, id).await
}

/// Deletes a project with its tasks; linked tickets are unlinked. A
/// project with logged time is kept (409): cancel it instead.
pub async fn delete(tx: &mut TenantTx, id: ProjectId) -> DomainResult<Project> {
    let project = get(tx, id).await?;
    let tenant = tx.tenant();
    let logged: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM time_entries WHERE company_id = $1 AND project_id = $2)",
    )
    .bind(tenant)
    .bind(id)
    .fetch_one(tx.conn())
    .await?;
    if logged {
        return Err(DomainError::conflict(
            "project_has_time",
            "a project with logged time cannot be deleted; cancel it",
        ));
    }
    sqlx::query("DELETE FROM projects WHERE company_id = $1 AND id = $2")
        .bind(tenant)
        .bind(id)
        .execute(tx.conn())
        .await?;
    Ok(project)
}

// ---- Tasks ----

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct Task {
    pub id: TaskId,
    pub project_id: ProjectId,
    pub title: String,
    pub description: Option<String>,
    #[sqlx(try_from = "String")]
    pub status: TaskStatus,
    pub assignee_id: Option<UserId>,
    #[serde(default, deserialize_with = "crate::kernel::dates::de_opt")]
    pub due_date: Option<NaiveDate>,
    pub completed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const TASK_COLUMNS: &str = "id, project_id, title, description, status, assignee_id, due_date, \
    completed_at, created_at, updated_at";

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTask {
    pub title: String,
    pub description: Option<String>,
    /// Default `todo`.
    pub status: Option<TaskStatus>,
    /// An active tech or admin.
    pub assignee_id: Option<UserId>,
    #[serde(default, deserialize_with = "crate::kernel::dates::de_opt")]
    pub due_date: Option<NaiveDate>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskPatch {
    pub title: Option<String>,
    #[serde(default, deserialize_with = "crate::kernel::patch::nullable")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    pub status: Option<TaskStatus>,
    #[serde(default, deserialize_with = "crate::kernel::patch::nullable")]
    #[schema(value_type = Option<UserId>)]
    pub assignee_id: Option<Option<UserId>>,
    #[serde(default, deserialize_with = "crate::kernel::dates::nullable")]
    #[schema(value_type = Option<NaiveDate>)]
    pub due_date: Option<Option<NaiveDate>>,
}

#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub status: Option<TaskStatus>,
    pub assignee_id: Option<UserId>,
}

pub async fn get_task(tx: &mut TenantTx, project: ProjectId, id: TaskId) -> DomainResult<Task> {
    let tenant = tx.tenant();
    let row: Option<Task> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {TASK_COLUMNS} FROM project_tasks WHERE company_id = $1 AND project_id = $2 AND id = $3"
    )))
    .bind(tenant)
    .bind(project)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?;
    row.ok_or(DomainError::not_found("task"))
}

/// A task's project and that project's client; 404 unless the task exists.
pub async fn task_owner(tx: &mut TenantTx, id: TaskId) -> DomainResult<(ProjectId, ClientId)> {
    let tenant = tx.tenant();
    let found: Option<(ProjectId, ClientId)> = sqlx::query_as(
        "SELECT t.project_id, p.client_id FROM project_tasks t \
         JOIN projects p ON p.company_id = t.company_id AND p.id = t.project_id \
         WHERE t.company_id = $1 AND t.id = $2",
    )
    .bind(tenant)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?;
    found.ok_or(DomainError::not_found("task"))
}

/// A project's tasks, oldest first.
pub async fn list_tasks(
    tx: &mut TenantTx,
    project: ProjectId,
    f: &TaskFilter,
    page: &PageRequest,
) -> DomainResult<Page<Task>> {
    client_of(tx, project).await?;
    const FILTER: &str = "company_id = $1 AND project_id = $2 \
        AND ($3::text IS NULL OR status = $3) AND ($4::uuid IS NULL OR assignee_id = $4)";
    let tenant = tx.tenant();
    let status = f.status.map(TaskStatus::as_str);
    let rows: Vec<Task> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {TASK_COLUMNS} FROM project_tasks WHERE {FILTER} \
         AND ($5::uuid IS NULL OR id > $5) ORDER BY id LIMIT $6"
    )))
    .bind(tenant)
    .bind(project)
    .bind(status)
    .bind(f.assignee_id)
    .bind(page.after_id())
    .bind(page.fetch())
    .fetch_all(tx.conn())
    .await?;
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM project_tasks WHERE {FILTER}"
    )))
    .bind(tenant)
    .bind(project)
    .bind(status)
    .bind(f.assignee_id)
    .fetch_one(tx.conn())
    .await?;
    Ok(Page::from_rows(rows, page, total, |t| Cursor {
        key: String::new(),
        id: t.id.as_uuid(),
    }))
}

pub async fn create_task(
    tx: &mut TenantTx,
    project: ProjectId,
    new: NewTask,
) -> DomainResult<Task> {
    let mut v = ValidationErrors::new();
    let title = v.required_text("title", &new.title, 500);
    let description = v.optional_text("description", new.description.as_deref(), 10_000);
    v.finish()?;
    client_of(tx, project).await?;
    if let Some(a) = new.assignee_id {
        users::check_staff(tx, a, "assignee_id").await?;
    }
    let status = new.status.unwrap_or(TaskStatus::Todo);
    let (tenant, now) = (tx.tenant(), tx.now());
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO project_tasks (id, company_id, project_id, title, description, status, assignee_id, \
         due_date, completed_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, CASE WHEN $6 = 'done' THEN $9 END, $9, $9) \
         RETURNING {TASK_COLUMNS}"
    )))
    .bind(TaskId::new())
    .bind(tenant)
    .bind(project)
    .bind(title)
    .bind(description)
    .bind(status.as_str())
    .bind(new.assignee_id)
    .bind(new.due_date)
    .bind(now)
    .fetch_one(tx.conn())
    .await?)
}

pub async fn update_task(
    tx: &mut TenantTx,
    project: ProjectId,
    id: TaskId,
    patch: TaskPatch,
) -> DomainResult<Task> {
    let current = get_task(tx, project, id).await?;
    let mut v = ValidationErrors::new();
    let title = v.required_text(
        "title",
        patch.title.as_deref().unwrap_or(&current.title),
        500,
    );
    let description = patch.description.unwrap_or(current.description);
    let description = v.optional_text("description", description.as_deref(), 10_000);
    v.finish()?;
    let assignee = patch.assignee_id.unwrap_or(current.assignee_id);
    if assignee != current.assignee_id
        && let Some(a) = assignee
    {
        users::check_staff(tx, a, "assignee_id").await?;
    }
    let status = patch.status.unwrap_or(current.status);
    let (tenant, now) = (tx.tenant(), tx.now());
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE project_tasks SET title = $4, description = $5, status = $6, assignee_id = $7, due_date = $8, \
         completed_at = CASE WHEN $6 <> 'done' THEN NULL ELSE COALESCE(completed_at, $9) END, updated_at = $9 \
         WHERE company_id = $1 AND project_id = $2 AND id = $3 RETURNING {TASK_COLUMNS}"
    )))
    .bind(tenant)
    .bind(project)
    .bind(id)
    .bind(title)
    .bind(description)
    .bind(status.as_str())
    .bind(assignee)
    .bind(patch.due_date.unwrap_or(current.due_date))
    .bind(now)
    .fetch_one(tx.conn())
    .await?)
}

/// Deletes a task; time logged on it stays with the project.
pub async fn delete_task(tx: &mut TenantTx, project: ProjectId, id: TaskId) -> DomainResult<Task> {
    let task = get_task(tx, project, id).await?;
    let tenant = tx.tenant();
    sqlx::query("DELETE FROM project_tasks WHERE company_id = $1 AND project_id = $2 AND id = $3")
        .bind(tenant)
        .bind(project)
        .bind(id)
        .execute(tx.conn())
        .await?;
    Ok(task)
}

// ---- Linked tickets ----

/// A ticket linked to a project, as the project lists it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct LinkedTicket {
    pub id: TicketId,
    pub number: i64,
    pub subject: String,
    pub status: String,
    pub priority: String,
    pub assignee_id: Option<UserId>,
    pub updated_at: DateTime<Utc>,
}

/// Links a ticket to a project. The ticket must have the project's client
/// (or none: it then takes the project's). Linking again is a no-op.
pub async fn link_ticket(
    tx: &mut TenantTx,
    project: ProjectId,
    ticket: TicketId,
) -> DomainResult<LinkedTicket> {
    let client = client_of(tx, project).await?;
    let tenant = tx.tenant();
    let found: Option<Option<ClientId>> = sqlx::query_scalar(
        "SELECT client_id FROM tickets WHERE company_id = $1 AND id = $2 FOR UPDATE",
    )
    .bind(tenant)
    .bind(ticket)
    .fetch_optional(tx.conn())
    .await?;
    let ticket_client = found.ok_or(DomainError::not_found("ticket"))?;
    if ticket_client.is_some_and(|c| c != client) {
        let mut v = ValidationErrors::new();
        v.add(
            "ticket_id",
            "other_client",
            "the ticket belongs to another client than the project",
        );
        return Err(DomainError::Validation(v));
    }
    let now = tx.now();
    sqlx::query(
        "UPDATE tickets SET project_id = $3, client_id = COALESCE(client_id, $4), \
         updated_at = CASE WHEN project_id IS DISTINCT FROM $3 THEN $5 ELSE updated_at END \
         WHERE company_id = $1 AND id = $2",
    )
    .bind(tenant)
    .bind(ticket)
    .bind(project)
    .bind(client)
    .bind(now)
    .execute(tx.conn())
    .await?;
    linked_ticket(tx, project, ticket).await
}

async fn linked_ticket(
    tx: &mut TenantTx,
    project: ProjectId,
    ticket: TicketId,
) -> DomainResult<LinkedTicket> {
    let tenant = tx.tenant();
    let row: Option<LinkedTicket> = sqlx::query_as(
        "SELECT id, number, subject, status, priority, assignee_id, updated_at FROM tickets \
         WHERE company_id = $1 AND project_id = $2 AND id = $3",
    )
    .bind(tenant)
    .bind(project)
    .bind(ticket)
    .fetch_optional(tx.conn())
    .await?;
    row.ok_or(DomainError::not_found("ticket"))
}

/// Unlinks a ticket; 404 unless it is linked to this project.
pub async fn unlink_ticket(
    tx: &mut TenantTx,
    project: ProjectId,
    ticket: TicketId,
) -> DomainResult<LinkedTicket> {
    let linked = linked_ticket(tx, project, ticket).await?;
    let (tenant, now) = (tx.tenant(), tx.now());
    sqlx::query(
        "UPDATE tickets SET project_id = NULL, updated_at = $4 \
         WHERE company_id = $1 AND project_id = $2 AND id = $3",
    )
    .bind(tenant)
    .bind(project)
    .bind(ticket)
    .bind(now)
    .execute(tx.conn())
    .await?;
    Ok(linked)
}

/// The tickets linked to a project, newest first.
pub async fn tickets(
    tx: &mut TenantTx,
    project: ProjectId,
    page: &PageRequest,
) -> DomainResult<Page<LinkedTicket>> {
    client_of(tx, project).await?;
    let tenant = tx.tenant();
    let rows: Vec<LinkedTicket> = sqlx::query_as(
        "SELECT id, number, subject, status, priority, assignee_id, updated_at FROM tickets \
         WHERE company_id = $1 AND project_id = $2 AND ($3::uuid IS NULL OR id < $3) \
         ORDER BY id DESC LIMIT $4",
    )
    .bind(tenant)
    .bind(project)
    .bind(page.after_id())
    .bind(page.fetch())
    .fetch_all(tx.conn())
    .await?;
    let total: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM tickets WHERE company_id = $1 AND project_id = $2",
    )
    .bind(tenant)
    .bind(project)
    .fetch_one(tx.conn())
    .await?;
    Ok(Page::from_rows(rows, page, total, |t| Cursor {
        key: String::new(),
        id: t.id.as_uuid(),
    }))
}

//! Projects: CRUD with progress and time spent, their tasks, and the
//! tickets linked to them. Techs and admins manage them; accountants read.

use axum::extract::State;
use axum::http::StatusCode;
use nestogy_domain::kernel::pagination::{Page, PageRequest};
use nestogy_domain::kernel::roles::Permission;
use nestogy_domain::service_desk::projects::{
    self, LinkedTicket, NewProject, NewTask, Project, ProjectFilter, ProjectPatch, ProjectStatus,
    Task, TaskFilter, TaskPatch, TaskStatus,
};
use nestogy_domain::{ClientId, ProjectId, TaskId, TicketId, UserId};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::PageQuery;
use crate::auth::Principal;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Json, Path, Query};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_projects, create_project))
        .routes(routes!(get_project, update_project, delete_project))
        .routes(routes!(list_tasks, create_task))
        .routes(routes!(get_task, update_task, delete_task))
        .routes(routes!(list_project_tickets))
        .routes(routes!(link_ticket, unlink_ticket))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ProjectListQuery {
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    pub client_id: Option<ClientId>,
    pub status: Option<ProjectStatus>,
    pub manager_id: Option<UserId>,
    /// Case-insensitive search in names.
    pub q: Option<String>,
}

/// List projects, newest first, with their progress and time spent.
#[utoipa::path(get, path = "/api/v1/projects", tag = "projects", params(ProjectListQuery),
    responses((status = 200, body = Page<Project>), (status = 400, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_projects(
    p: Principal,
    State(s): State<AppState>,
    Query(q): Query<ProjectListQuery>,
) -> ApiResult<axum::Json<Page<Project>>> {
    p.require(Permission::ProjectsRead)?;
    let page = PageRequest::from_query(q.limit, q.cursor.as_deref())?;
    let filter = ProjectFilter {
        client_id: q.client_id,
        status: q.status,
        manager_id: q.manager_id,
        q: q.q.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()),
    };
    let mut tx = p.tx(&s).await?;
    let page = projects::list(&mut tx, &filter, &page).await?;
    tx.end_read();
    Ok(axum::Json(page))
}

/// Create a project for a client.
#[utoipa::path(post, path = "/api/v1/projects", tag = "projects", request_body = NewProject,
    responses((status = 201, body = Project), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_project(
    p: Principal,
    State(s): State<AppState>,
    Json(body): Json<NewProject>,
) -> ApiResult<(StatusCode, axum::Json<Project>)> {
    p.require(Permission::ProjectsWrite)?;
    let mut tx = p.tx(&s).await?;
    let project = projects::create(&mut tx, body).await?;
    p.audit(
        &mut tx,
        "project.created",
        "project",
        project.id.as_uuid(),
        &project,
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(project)))
}

/// Get a project with its progress (from tasks) and time spent.
#[utoipa::path(get, path = "/api/v1/projects/{id}", tag = "projects",
    params(("id" = ProjectId, Path)),
    responses((status = 200, body = Project), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_project(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<ProjectId>,
) -> ApiResult<axum::Json<Project>> {
    p.require(Permission::ProjectsRead)?;
    let mut tx = p.tx(&s).await?;
    let project = projects::get(&mut tx, id).await?;
    tx.end_read();
    Ok(axum::Json(project))
}

/// Change a project. Absent fields stay; `null` clears an optional field.
#[utoipa::path(patch, path = "/api/v1/projects/{id}", tag = "projects",
    params(("id" = ProjectId, Path)), request_body = ProjectPatch,
    responses((status = 200, body = Project), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn update_project(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<ProjectId>,
    Json(body): Json<ProjectPatch>,
) -> ApiResult<axum::Json<Project>> {
    p.require(Permission::ProjectsWrite)?;
    let mut tx = p.tx(&s).await?;
    let project = projects::update(&mut tx, id, body).await?;
    p.audit(
        &mut tx,
        "project.updated",
        "project",
        id.as_uuid(),
        &project,
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(project))
}

/// Delete a project with its tasks (its tickets are unlinked). A project
/// with logged time answers 409: cancel it instead.
#[utoipa::path(delete, path = "/api/v1/projects/{id}", tag = "projects",
    params(("id" = ProjectId, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn delete_project(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<ProjectId>,
) -> ApiResult<StatusCode> {
    p.require(Permission::ProjectsWrite)?;
    let mut tx = p.tx(&s).await?;
    let project = projects::delete(&mut tx, id).await?;
    p.audit(
        &mut tx,
        "project.deleted",
        "project",
        id.as_uuid(),
        &project,
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TaskListQuery {
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    pub status: Option<TaskStatus>,
    pub assignee_id: Option<UserId>,
}

/// List a project's tasks, oldest first.
#[utoipa::path(get, path = "/api/v1/projects/{id}/tasks", tag = "projects",
    params(("id" = ProjectId, Path), TaskListQuery),
    responses((status = 200, body = Page<Task>), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_tasks(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<ProjectId>,
    Query(q): Query<TaskListQuery>,
) -> ApiResult<axum::Json<Page<Task>>> {
    p.require(Permission::ProjectsRead)?;
    let page = PageRequest::from_query(q.limit, q.cursor.as_deref())?;
    let filter = TaskFilter {
        status: q.status,
        assignee_id: q.assignee_id,
    };
    let mut tx = p.tx(&s).await?;
    let page = projects::list_tasks(&mut tx, id, &filter, &page).await?;
    tx.end_read();
    Ok(axum::Json(page))
}

/// Add a task to a project.
#[utoipa::path(post, path = "/api/v1/projects/{id}/tasks", tag = "projects",
    params(("id" = ProjectId, Path)), request_body = NewTask,
    responses((status = 201, body = Task), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_task(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<ProjectId>,
    Json(body): Json<NewTask>,
) -> ApiResult<(StatusCode, axum::Json<Task>)> {
    p.require(Permission::ProjectsWrite)?;
    let mut tx = p.tx(&s).await?;
    let task = projects::create_task(&mut tx, id, body).await?;
    p.audit(&mut tx, "task.created", "task", task.id.as_uuid(), &task)
        .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(task)))
}

/// Get a task.
#[utoipa::path(get, path = "/api/v1/projects/{id}/tasks/{task_id}", tag = "projects",
    params(("id" = ProjectId, Path), ("task_id" = TaskId, Path)),
    responses((status = 200, body = Task), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_task(
    p: Principal,
    State(s): State<AppState>,
    Path((id, task)): Path<(ProjectId, TaskId)>,
) -> ApiResult<axum::Json<Task>> {
    p.require(Permission::ProjectsRead)?;
    let mut tx = p.tx(&s).await?;
    let task = projects::get_task(&mut tx, id, task).await?;
    tx.end_read();
    Ok(axum::Json(task))
}

/// Change a task. Absent fields stay; `null` clears an optional field.
#[utoipa::path(patch, path = "/api/v1/projects/{id}/tasks/{task_id}", tag = "projects",
    params(("id" = ProjectId, Path), ("task_id" = TaskId, Path)), request_body = TaskPatch,
    responses((status = 200, body = Task), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn update_task(
    p: Principal,
    State(s): State<AppState>,
    Path((id, task)): Path<(ProjectId, TaskId)>,
    Json(body): Json<TaskPatch>,
) -> ApiResult<axum::Json<Task>> {
    p.require(Permission::ProjectsWrite)?;
    let mut tx = p.tx(&s).await?;
    let task = projects::update_task(&mut tx, id, task, body).await?;
    p.audit(&mut tx, "task.updated", "task", task.id.as_uuid(), &task)
        .await?;
    tx.commit().await?;
    Ok(axum::Json(task))
}

/// Delete a task; time logged on it stays with the project.
#[utoipa::path(delete, path = "/api/v1/projects/{id}/tasks/{task_id}", tag = "projects",
    params(("id" = ProjectId, Path), ("task_id" = TaskId, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn delete_task(
    p: Principal,
    State(s): State<AppState>,
    Path((id, task)): Path<(ProjectId, TaskId)>,
) -> ApiResult<StatusCode> {
    p.require(Permission::ProjectsWrite)?;
    let mut tx = p.tx(&s).await?;
    let task = projects::delete_task(&mut tx, id, task).await?;
    p.audit(&mut tx, "task.deleted", "task", task.id.as_uuid(), &task)
        .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The tickets linked to a project, newest first.
#[utoipa::path(get, path = "/api/v1/projects/{id}/tickets", tag = "projects",
    params(("id" = ProjectId, Path), PageQuery),
    responses((status = 200, body = Page<LinkedTicket>), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_project_tickets(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<ProjectId>,
    Query(q): Query<PageQuery>,
) -> ApiResult<axum::Json<Page<LinkedTicket>>> {
    p.require(Permission::ProjectsRead)?;
    let page = q.page()?;
    let mut tx = p.tx(&s).await?;
    let page = projects::tickets(&mut tx, id, &page).await?;
    tx.end_read();
    Ok(axum::Json(page))
}

/// Link a ticket to a project. The ticket must be the project's client's
/// (a ticket without client takes the project's). Linking again changes
/// nothing; linking to another project moves it.
#[utoipa::path(put, path = "/api/v1/projects/{id}/tickets/{ticket_id}", tag = "projects",
    params(("id" = ProjectId, Path), ("ticket_id" = TicketId, Path)),
    responses((status = 200, body = LinkedTicket), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn link_ticket(
    p: Principal,
    State(s): State<AppState>,
    Path((id, ticket)): Path<(ProjectId, TicketId)>,
) -> ApiResult<axum::Json<LinkedTicket>> {
    p.require(Permission::ProjectsWrite)?;
    p.require(Permission::TicketsWrite)?;
    let mut tx = p.tx(&s).await?;
    let linked = projects::link_ticket(&mut tx, id, ticket).await?;
    p.audit(
        &mut tx,
        "project.ticket_linked",
        "project",
        id.as_uuid(),
        &linked,
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(linked))
}

/// Unlink a ticket from a project.
#[utoipa::path(delete, path = "/api/v1/projects/{id}/tickets/{ticket_id}", tag = "projects",
    params(("id" = ProjectId, Path), ("ticket_id" = TicketId, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn unlink_ticket(
    p: Principal,
    State(s): State<AppState>,
    Path((id, ticket)): Path<(ProjectId, TicketId)>,
) -> ApiResult<StatusCode> {
    p.require(Permission::ProjectsWrite)?;
    p.require(Permission::TicketsWrite)?;
    let mut tx = p.tx(&s).await?;
    let linked = projects::unlink_ticket(&mut tx, id, ticket).await?;
    p.audit(
        &mut tx,
        "project.ticket_unlinked",
        "project",
        id.as_uuid(),
        &linked,
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

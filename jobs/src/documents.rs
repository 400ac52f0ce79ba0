//! Rendering documents to PDF and keeping them in the object store.
//!
//! A rendering is named by the digest of the data it was rendered from
//! (`nestogy_domain::billing::documents`): rendering the same data again is a no-op,
//! and a changed document is rendered under a new key.

use std::sync::LazyLock;
use std::time::Duration;

use nestogy_domain::billing::documents::{self, DocRef, View};
use nestogy_domain::{DomainError, TenantId};
use nestogy_render::{Logo, RenderError, Renderer, Template};
use serde::{Deserialize, Serialize};

use crate::{Job, JobContext, JobError, JobMeta, Queue};

/// One renderer per process: fonts and templates load once.
static RENDERER: LazyLock<Renderer> = LazyLock::new(Renderer::new);

/// The renderer's logo for an uploaded image of `content_type`.
fn logo_of(content_type: &str, bytes: Vec<u8>) -> Logo {
    if content_type == "image/svg+xml" {
        Logo::Svg(bytes)
    } else {
        Logo::Png(bytes)
    }
}

/// A failed render as a job's failure: a template or data that does not
/// compile will not compile next time either (straight to the dead set,
/// with the template's line); a PDF export may.
pub(crate) fn render_failure(e: RenderError) -> JobError {
    match e {
        RenderError::Template { .. } | RenderError::Data(_) => JobError::permanent(e.to_string()),
        RenderError::Pdf(_) => JobError::retry(e.to_string()),
    }
}

/// Renders `view` on a blocking thread (typst is synchronous and CPU-bound).
pub async fn render(view: &View) -> Result<Vec<u8>, RenderError> {
    let template = match view.doc.kind() {
        nestogy_domain::billing::DocKind::Invoice => Template::Invoice,
        nestogy_domain::billing::DocKind::Quote => Template::Quote,
        nestogy_domain::billing::DocKind::Statement => Template::Statement,
    };
    render_template(template, view.data.clone(), view.logo.as_ref()).await
}

/// Renders `data` with `template` on a blocking thread.
pub async fn render_template(
    template: Template,
    data: Vec<u8>,
    logo: Option<&nestogy_domain::identity::company::Logo>,
) -> Result<Vec<u8>, RenderError> {
    let logo = logo.map(|l| logo_of(&l.content_type, l.bytes.clone()));
    tokio::task::spawn_blocking(move || RENDERER.render(template, &data, logo.as_ref()))
        .await
        .map_err(|e| RenderError::Pdf(format!("the render thread failed: {e}")))?
}

/// Checks that documents can carry `logo` (`image/png` or
/// `image/svg+xml`) by rendering a sample invoice with it: an image typst
/// cannot decode is refused at upload, not found at the next render.
pub async fn check_logo(content_type: &str, bytes: Vec<u8>) -> Result<(), String> {
    let logo = logo_of(content_type, bytes);
    tokio::task::spawn_blocking(move || {
        let mut data = nestogy_render::sample::invoice_data(1);
        data["company"]["logo"] = logo.path().into();
        let data = serde_json::to_vec(&data).map_err(|e| e.to_string())?;
        RENDERER
            .render(Template::Invoice, &data, Some(&logo))
            .map(|_| ())
            .map_err(|e| match e {
                RenderError::Template { message, .. } => message,
                other => other.to_string(),
            })
    })
    .await
    .map_err(|e| e.to_string())?
}

/// A current rendering.
#[derive(Debug, Clone)]
pub struct Current {
    pub key: String,
    pub digest: String,
    pub file_name: String,
    pub bytes: Vec<u8>,
    /// Whether this call rendered it (false: it was stored already).
    pub rendered: bool,
}

fn store_error(e: impl std::fmt::Display) -> JobError {
    JobError::retry(format!("object store: {e}"))
}

/// The view of `doc`, its object key, and whether that key holds a
/// rendering of the view's data according to the `documents` table.
async fn read_view(
    ctx: &JobContext,
    tenant: TenantId,
    doc: &DocRef,
) -> Result<(View, String, bool), DomainError> {
    let mut tx = ctx.db.tenant(tenant).await?;
    let view = documents::view(&mut tx, doc).await?;
    let recorded = documents::rendered_digests(&mut tx, std::slice::from_ref(doc)).await?;
    tx.end_read();
    let key = documents::object_key(tenant, &view);
    let current = recorded.first().and_then(Option::as_deref) == Some(view.digest.as_str());
    Ok((view, key, current))
}

/// The current PDF of `doc`, rendered and stored if it is not yet.
pub async fn ensure_rendered(
    ctx: &JobContext,
    tenant: TenantId,
    doc: &DocRef,
) -> Result<Current, JobError> {
    let (view, key, current) = read_view(ctx, tenant, doc).await?;
    let files = &ctx.services.files;
    if current {
        match files.get(&key).await {
            Ok(bytes) => {
                return Ok(Current {
                    key,
                    digest: view.digest,
                    file_name: view.file_name,
                    bytes: bytes.to_vec(),
                    rendered: false,
                });
            }
            Err(e) if e.is_not_found() => {} // lost from the store: render again
            Err(e) => return Err(store_error(e)),
        }
    }
    let started = std::time::Instant::now();
    let pdf = render(&view).await.map_err(render_failure)?;
    metrics::histogram!("document_render_seconds").record(started.elapsed().as_secs_f64());
    files.put(&key, pdf.clone()).await.map_err(store_error)?;
    let mut tx = ctx.db.tenant(tenant).await?;
    documents::record_rendered_many(&mut tx, &[(&view, key.clone(), pdf.len())]).await?;
    tx.commit().await?;
    Ok(Current {
        key,
        digest: view.digest,
        file_name: view.file_name,
        bytes: pdf,
        rendered: true,
    })
}

/// The view of `doc` and, if its current data is rendered and stored, the
/// key of its PDF. Renders nothing.
pub async fn current(
    ctx: &JobContext,
    tenant: TenantId,
    doc: &DocRef,
) -> Result<(View, Option<String>), DomainError> {
    let (view, key, current) = read_view(ctx, tenant, doc).await?;
    if !current {
        return Ok((view, None));
    }
    match ctx.services.files.exists(&key).await {
        Ok(true) => Ok((view, Some(key))),
        Ok(false) => Ok((view, None)),
        Err(e) => Err(DomainError::Internal(e.to_string())),
    }
}

/// The unique key of the job rendering `view`: one job per document state.
pub fn render_key(tenant: TenantId, view: &View) -> String {
    format!("render:{tenant}:{}:{}", view.doc.key(), &view.digest[..16])
}

/// Renders a document and stores it, if its current data is not rendered
/// yet. Idempotent: the same data gives the same bytes under the same key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Render {
    pub tenant: TenantId,
    pub doc: DocRef,
}

impl Job for Render {
    const KIND: &'static str = "documents.render";
    const QUEUE: Queue = Queue::Documents;

    fn timeout() -> Duration {
        Duration::from_secs(120)
    }

    fn tenant(&self) -> Option<TenantId> {
        Some(self.tenant)
    }

    async fn run(self, ctx: JobContext, _: JobMeta) -> Result<serde_json::Value, JobError> {
        let c = ensure_rendered(&ctx, self.tenant, &self.doc).await?;
        Ok(serde_json::json!({
            "key": c.key, "bytes": c.bytes.len(), "rendered": c.rendered, "digest": c.digest,
        }))
    }
}

/// Renders and stores many documents of one tenant: the views read in one
/// transaction, renders spread over the cores, files written concurrently,
/// renderings recorded in one statement. What billing runs enqueue, one
/// per chunk. Idempotent as [`Render`] is: what is rendered already is
/// skipped.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RenderMany {
    pub tenant: TenantId,
    pub docs: Vec<DocRef>,
}

impl Job for RenderMany {
    const KIND: &'static str = "documents.render_many";
    const QUEUE: Queue = Queue::Documents;

    fn timeout() -> Duration {
        Duration::from_secs(300)
    }

    fn tenant(&self) -> Option<TenantId> {
        Some(self.tenant)
    }

    async fn run(self, ctx: JobContext, _: JobMeta) -> Result<serde_json::Value, JobError> {
        let mut tx = ctx.db.tenant(self.tenant).await?;
        let views = documents::views(&mut tx, &self.docs).await?;
        let recorded = documents::rendered_digests(&mut tx, &self.docs).await?;
        tx.end_read();
        let todo: Vec<View> = views
            .into_iter()
            .zip(recorded)
            .filter(|(v, r)| r.as_deref() != Some(v.digest.as_str()))
            .map(|(v, _)| v)
            .collect();
        let skipped = self.docs.len() - todo.len();
        // One render at a time per core: typst is CPU-bound.
        let lanes = std::thread::available_parallelism().map_or(2, |n| n.get());
        let mut done = Vec::with_capacity(todo.len());
        for batch in todo.chunks(lanes) {
            let mut set = tokio::task::JoinSet::new();
            for (i, view) in batch.iter().enumerate() {
                let view = view.clone();
                set.spawn(async move { (i, render(&view).await) });
            }
            let mut pdfs: Vec<Option<Vec<u8>>> = vec![None; batch.len()];
            while let Some(joined) = set.join_next().await {
                let (i, pdf) = joined.map_err(|e| JobError::retry(e.to_string()))?;
                pdfs[i] = Some(pdf.map_err(render_failure)?);
            }
            let mut puts = tokio::task::JoinSet::new();
            for (view, pdf) in batch.iter().zip(pdfs) {
                let pdf = pdf.unwrap_or_default();
                let key = documents::object_key(self.tenant, view);
                let files = ctx.services.files.clone();
                let size = pdf.len();
                done.push((view, key.clone(), size));
                puts.spawn(async move { files.put(&key, pdf).await });
            }
            while let Some(put) = puts.join_next().await {
                put.map_err(|e| JobError::retry(e.to_string()))?
                    .map_err(store_error)?;
            }
        }
        let mut tx = ctx.db.tenant(self.tenant).await?;
        documents::record_rendered_many(&mut tx, &done).await?;
        tx.commit().await?;
        Ok(serde_json::json!({ "rendered": done.len(), "skipped": skipped }))
    }
}

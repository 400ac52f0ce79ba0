//! Files: the object store rendered documents live in. A local directory by
//! default; any S3-compatible store by URL. Every key is under its tenant's
//! prefix, so one tenant's files can never be named from another's.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, PutPayload};

use crate::TenantId;

#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    #[error("object store configuration: {0}")]
    Config(String),
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
}

impl FilesError {
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            FilesError::Store(object_store::Error::NotFound { .. })
        )
    }
}

/// A handle to the store; cheap to clone.
#[derive(Clone)]
pub struct Files {
    store: Arc<dyn ObjectStore>,
}

impl std::fmt::Debug for Files {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Files({})", self.store)
    }
}

impl Files {
    /// `file:///var/lib/nestogy/files` or a bare path: a local directory
    /// (created if absent). `s3://bucket`: S3 or a compatible store, with
    /// credentials, region and endpoint from the usual `AWS_*` variables
    /// (`AWS_ENDPOINT` for MinIO and friends, `AWS_ALLOW_HTTP=true` for a
    /// plain-HTTP endpoint).
    pub fn from_url(url: &str) -> Result<Files, FilesError> {
        if url.starts_with("s3://") {
            let store = AmazonS3Builder::from_env()
                .with_url(url)
                .build()
                .map_err(|e| FilesError::Config(e.to_string()))?;
            return Ok(Files {
                store: Arc::new(store),
            });
        }
        let dir = url.strip_prefix("file://").unwrap_or(url);
        if dir.is_empty() || url.contains("://") && !url.starts_with("file://") {
            return Err(FilesError::Config(format!(
                "unsupported object store URL {url:?}: use a directory, file:///dir or s3://bucket"
            )));
        }
        std::fs::create_dir_all(dir)
            .map_err(|e| FilesError::Config(format!("creating {dir}: {e}")))?;
        let store =
            LocalFileSystem::new_with_prefix(dir).map_err(|e| FilesError::Config(e.to_string()))?;
        Ok(Files {
            store: Arc::new(store),
        })
    }

    /// The key of `name` under `tenant`'s prefix.
    pub fn key(tenant: TenantId, name: &str) -> String {
        format!("tenants/{tenant}/{name}")
    }

    pub async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), FilesError> {
        self.store
            .put(&Path::from(key), PutPayload::from(bytes))
            .await?;
        Ok(())
    }

    pub async fn get(&self, key: &str) -> Result<Bytes, FilesError> {
        Ok(self.store.get(&Path::from(key)).await?.bytes().await?)
    }

    /// The object as a stream of chunks, and its size.
    pub async fn stream(
        &self,
        key: &str,
    ) -> Result<(u64, BoxStream<'static, object_store::Result<Bytes>>), FilesError> {
        let got = self.store.get(&Path::from(key)).await?;
        let size = got.meta.size;
        Ok((size, got.into_stream()))
    }

    pub async fn exists(&self, key: &str) -> Result<bool, FilesError> {
        match self.store.head(&Path::from(key)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_directory_round_trip() {
        let dir = std::env::temp_dir().join(format!("nestogy-files-{}", uuid::Uuid::now_v7()));
        let files = Files::from_url(&format!("file://{}", dir.display())).expect("store");
        let key = Files::key(TenantId::new(), "invoices/a.pdf");
        assert!(!files.exists(&key).await.expect("head"));
        files.put(&key, b"%PDF-1.7".to_vec()).await.expect("put");
        assert!(files.exists(&key).await.expect("head"));
        assert_eq!(&files.get(&key).await.expect("get")[..], b"%PDF-1.7");
        assert!(dir.join(&key).is_file(), "stored under the tenant prefix");
        let missing = files.get(&Files::key(TenantId::new(), "x")).await;
        assert!(missing.is_err_and(|e| e.is_not_found()));
        assert!(Files::from_url("ftp://nope").is_err());
        let _ = std::fs::remove_dir_all(dir);
    }
}

//! The typst `World` of one render: the renderer's shared library, fonts and
//! templates, plus this document's data and logo as virtual files.

use std::sync::LazyLock;

use typst::diag::{FileError, FileResult};
use typst::foundations::{Bytes, Datetime, Duration};
use typst::syntax::{FileId, RootedPath, Source, VirtualPath, VirtualRoot};
use typst::text::{Font, FontBook};
use typst::utils::LazyHash;
use typst::{Library, World};

use crate::Renderer;

/// The fixed virtual paths. File ids are interned for the life of the
/// process (typst allows 65,535 of them), so every render reuses these few.
pub(crate) struct Ids {
    pub invoice: FileId,
    pub quote: FileId,
    pub statement: FileId,
    pub management: FileId,
    pub common: FileId,
    /// The main file of `Renderer::render_source`, whatever its name.
    pub custom: FileId,
    pub data: FileId,
    pub logo_png: FileId,
    pub logo_svg: FileId,
}

fn id(path: &str) -> FileId {
    // The paths are constants: `VirtualPath::new` only fails on `..` escapes.
    let vpath = VirtualPath::new(path).unwrap_or_else(|_| unreachable!("bad constant path {path}"));
    RootedPath::new(VirtualRoot::Project, vpath).intern()
}

pub(crate) static IDS: LazyLock<Ids> = LazyLock::new(|| Ids {
    invoice: id("/invoice.typ"),
    quote: id("/quote.typ"),
    statement: id("/statement.typ"),
    management: id("/management.typ"),
    common: id("/common.typ"),
    custom: id("/main.typ"),
    data: id("/data.json"),
    logo_png: id("/logo.png"),
    logo_svg: id("/logo.svg"),
});

/// One document's world: borrowed shared state plus its own files.
pub(crate) struct DocWorld<'a> {
    pub renderer: &'a Renderer,
    pub main: Source,
    pub data: Bytes,
    pub logo: Option<(FileId, Bytes)>,
}

impl DocWorld<'_> {
    fn not_found(id: FileId) -> FileError {
        FileError::NotFound(id.vpath().get_with_slash().into())
    }
}

impl World for DocWorld<'_> {
    fn library(&self) -> &LazyHash<Library> {
        &self.renderer.library
    }

    fn book(&self) -> &LazyHash<FontBook> {
        self.renderer.fonts.book()
    }

    fn main(&self) -> FileId {
        self.main.id()
    }

    fn source(&self, id: FileId) -> FileResult<Source> {
        if id == self.main.id() {
            return Ok(self.main.clone());
        }
        self.renderer
            .sources
            .iter()
            .find(|s| s.id() == id)
            .cloned()
            .ok_or_else(|| {
                if id == IDS.data || id == IDS.logo_png || id == IDS.logo_svg {
                    FileError::NotSource
                } else {
                    Self::not_found(id)
                }
            })
    }

    fn file(&self, id: FileId) -> FileResult<Bytes> {
        if id == IDS.data {
            return Ok(self.data.clone());
        }
        if let Some((logo_id, bytes)) = &self.logo
            && *logo_id == id
        {
            return Ok(bytes.clone());
        }
        match self.source(id) {
            Ok(source) => Ok(Bytes::from_string(source.text().to_owned())),
            Err(_) => Err(Self::not_found(id)),
        }
    }

    fn font(&self, index: usize) -> Option<Font> {
        self.renderer.fonts.font(index)
    }

    /// No clock: `datetime.today()` fails in a template, so output never
    /// depends on when it was rendered.
    fn today(&self, _offset: Option<Duration>) -> Option<Datetime> {
        None
    }
}

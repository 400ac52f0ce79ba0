//! The fonts a document can use, all compiled into the binary: typst's own
//! (Libertinus Serif, New Computer Modern, DejaVu Sans Mono) plus the files in
//! `templates/fonts/` for a sans body face, Arabic and CJK. See
//! `templates/fonts/README.md` for their sources and licences.

use typst::foundations::Bytes;
use typst::text::Font;
use typst_kit::fonts::FontStore;

/// Our own font files, in the order they are added to the font book.
static EXTRA: [&[u8]; 5] = [
    include_bytes!("../../templates/fonts/NotoSans-Regular.ttf"),
    include_bytes!("../../templates/fonts/NotoSans-Bold.ttf"),
    include_bytes!("../../templates/fonts/NotoSansArabic-Regular.ttf"),
    include_bytes!("../../templates/fonts/NotoSansArabic-Bold.ttf"),
    include_bytes!("../../templates/fonts/DroidSansFallbackFull.ttf"),
];

/// Builds the font store: parses every font once. Nothing is read from the
/// file system or the network.
pub(crate) fn load() -> FontStore {
    let mut store = FontStore::new();
    for data in EXTRA {
        store.extend(Font::iter(Bytes::new(data)).map(|font| {
            let info = font.info().clone();
            (font, info)
        }));
    }
    store.extend(typst_kit::fonts::embedded());
    store
}

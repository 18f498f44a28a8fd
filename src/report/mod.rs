//! HTML pages like the official visualizer's: the training page (`web/index.html`) and the
//! results page of `test` (`results/<name>/<phase>_<epoch>/index.html`).

use std::fmt::Write;
use std::path::Path;

use crate::error::Result;
use crate::fsutil::write_atomic;

/// A heading followed by a row of captioned images (paths relative to the page).
#[derive(Clone, Debug)]
pub struct Section {
    pub heading: String,
    pub images: Vec<(String, String)>,
    /// Extra text under the heading (e.g. metrics).
    pub note: Option<String>,
}

/// Escapes text for HTML content and attributes.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A page of sections, like the official visualizer's.
#[derive(Clone, Debug)]
pub struct Page<'a> {
    pub title: String,
    pub sections: &'a [Section],
    /// Width of every image, in CSS pixels.
    pub image_width: usize,
    /// Reload the page every this many seconds (the training page, as the official one does
    /// while training).
    pub refresh: Option<u32>,
    /// Markup shown under the title as it is (the training page's loss chart).
    pub chart: Option<String>,
}

/// Renders and atomically writes `page` to `path`.
pub fn write_page(path: &Path, page: &Page) -> Result<()> {
    let Page {
        title,
        sections,
        image_width,
        refresh,
        chart,
    } = page;
    let mut html = String::new();
    html.push_str("<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n");
    if let Some(seconds) = refresh {
        let _ = writeln!(html, "<meta http-equiv=\"refresh\" content=\"{seconds}\">");
    }
    let _ = writeln!(html, "<title>{}</title>", escape(title));
    html.push_str(
        "<style>body{font-family:sans-serif}td{padding:4px;text-align:center;word-wrap:break-word}\
         p.note{font-family:monospace}</style>\n</head>\n<body>\n",
    );
    let _ = writeln!(html, "<h2>{}</h2>", escape(title));
    if let Some(chart) = chart {
        let _ = writeln!(html, "{chart}");
    }
    for section in sections.iter() {
        let _ = writeln!(html, "<h3>{}</h3>", escape(&section.heading));
        if let Some(note) = &section.note {
            let _ = writeln!(html, "<p class=\"note\">{}</p>", escape(note));
        }
        html.push_str("<table style=\"table-layout:fixed\"><tr>\n");
        for (src, caption) in &section.images {
            let src = escape(src);
            let _ = writeln!(
                html,
                "<td halign=\"center\" style=\"width:{image_width}px\" valign=\"top\">\
                 <a href=\"{src}\"><img style=\"width:{image_width}px\" src=\"{src}\"></a>\
                 <br><p>{}</p></td>",
                escape(caption)
            );
        }
        html.push_str("</tr></table>\n");
    }
    html.push_str("</body>\n</html>\n");
    write_atomic(path, html.as_bytes())
}

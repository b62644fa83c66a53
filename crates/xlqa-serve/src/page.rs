//! The web page at `/`: one self-contained HTML file (styles and script
//! inline, nothing fetched from elsewhere), embedded in the binary.

/// `assets/index.html`.
pub const INDEX_HTML: &str = include_str!("../assets/index.html");

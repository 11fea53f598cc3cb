//! The contact sheet of `cutout compare`: the input and each provider's result side by side,
//! each in a tile of the same size over a checkerboard (so transparency shows), labelled under
//! the tile. Pure: decoded images and labels in, an [`RgbaImage`] out.

use image::imageops::{self, FilterType};
use image::{Rgba, RgbaImage};

/// One tile: an image (or none, when the provider failed or could not take the input) and the
/// lines of its label.
#[derive(Debug, Clone)]
pub struct Tile {
    /// The picture, fitted into the tile with its aspect kept.
    pub image: Option<RgbaImage>,
    /// The label, one entry per line (ASCII; longer lines are cut to the tile's width).
    pub lines: Vec<String>,
}

/// The sheet's geometry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// The side of each (square) tile, in pixels.
    pub tile: u32,
    /// The margin around and between tiles.
    pub gap: u32,
    /// How many label lines each tile has room for.
    pub label_lines: u32,
}

/// Height of one label line: the 8-pixel glyphs and 2 pixels of leading.
pub const LINE_HEIGHT: u32 = 10;
/// Width of one glyph.
const GLYPH: u32 = 8;
/// Side of a checkerboard square.
pub const CHECK: u32 = 16;

const BACKGROUND: Rgba<u8> = Rgba([255, 255, 255, 255]);
const CHECK_LIGHT: Rgba<u8> = Rgba([255, 255, 255, 255]);
const CHECK_DARK: Rgba<u8> = Rgba([204, 204, 204, 255]);
/// A tile without a result: flat, so it is never mistaken for a transparent one.
const EMPTY_TILE: Rgba<u8> = Rgba([236, 226, 226, 255]);
/// The label's ink.
pub const INK: Rgba<u8> = Rgba([20, 20, 20, 255]);

impl Default for Layout {
    fn default() -> Self {
        Layout {
            tile: 320,
            gap: 8,
            // The provider, then time and credits, or a failure's reason on up to four lines.
            label_lines: 5,
        }
    }
}

impl Layout {
    /// The height of the band under each tile that holds its label.
    pub fn label_band(&self) -> u32 {
        self.label_lines * LINE_HEIGHT + 4
    }

    /// The sheet's size for `tiles` tiles in one row.
    pub fn size(&self, tiles: u32) -> (u32, u32) {
        let width = tiles * self.tile + (tiles + 1) * self.gap;
        let height = self.gap + self.tile + self.label_band() + self.gap;
        (width, height)
    }

    /// The top-left corner of tile `index`.
    pub fn origin(&self, index: u32) -> (u32, u32) {
        (self.gap + index * (self.tile + self.gap), self.gap)
    }

    /// The top-left corner of the label of tile `index`.
    pub fn label_origin(&self, index: u32) -> (u32, u32) {
        let (x, y) = self.origin(index);
        (x, y + self.tile + 4)
    }

    /// How many characters fit on a label line.
    pub fn columns(&self) -> usize {
        (self.tile / GLYPH) as usize
    }
}

/// Draws the sheet: the tiles in one row, in order.
pub fn render(tiles: &[Tile], layout: Layout) -> RgbaImage {
    let count = u32::try_from(tiles.len()).unwrap_or(u32::MAX);
    let (width, height) = layout.size(count);
    let mut sheet = RgbaImage::from_pixel(width, height, BACKGROUND);
    for (index, tile) in (0u32..).zip(tiles) {
        let (x, y) = layout.origin(index);
        match &tile.image {
            Some(image) => {
                checkerboard(&mut sheet, x, y, layout.tile);
                let fitted = fit(image, layout.tile);
                // Centred; `overlay` blends by alpha, so the checkerboard shows through.
                let dx = (layout.tile - fitted.width()) / 2;
                let dy = (layout.tile - fitted.height()) / 2;
                imageops::overlay(&mut sheet, &fitted, i64::from(x + dx), i64::from(y + dy));
            }
            None => fill(&mut sheet, x, y, layout.tile, layout.tile, EMPTY_TILE),
        }
        let (lx, ly) = layout.label_origin(index);
        for (row, line) in (0u32..).zip(tile.lines.iter().take(layout.label_lines as usize)) {
            draw_text(
                &mut sheet,
                lx,
                ly + row * LINE_HEIGHT,
                line,
                layout.columns(),
            );
        }
    }
    sheet
}

/// `image` scaled to fit a `side`×`side` square, aspect kept (never 0 pixels wide or high).
fn fit(image: &RgbaImage, side: u32) -> RgbaImage {
    let (w, h) = image.dimensions();
    if w == 0 || h == 0 {
        return RgbaImage::new(1, 1);
    }
    let scale = f64::from(side) / f64::from(w.max(h));
    let nw = ((f64::from(w) * scale).round() as u32).clamp(1, side);
    let nh = ((f64::from(h) * scale).round() as u32).clamp(1, side);
    if (nw, nh) == (w, h) {
        return image.clone();
    }
    imageops::resize(image, nw, nh, FilterType::Triangle)
}

fn checkerboard(sheet: &mut RgbaImage, x: u32, y: u32, side: u32) {
    for dy in 0..side {
        for dx in 0..side {
            let dark = ((dx / CHECK) + (dy / CHECK)) % 2 == 1;
            sheet.put_pixel(x + dx, y + dy, if dark { CHECK_DARK } else { CHECK_LIGHT });
        }
    }
}

fn fill(sheet: &mut RgbaImage, x: u32, y: u32, w: u32, h: u32, color: Rgba<u8>) {
    for dy in 0..h {
        for dx in 0..w {
            sheet.put_pixel(x + dx, y + dy, color);
        }
    }
}

/// The ellipsis `…` (not in the ASCII font): three dots on the baseline.
const ELLIPSIS_GLYPH: [u8; 8] = [0, 0, 0, 0, 0, 0, 0b0100_1001, 0];

/// Draws `text` with the public-domain 8×8 font of `font8x8`, at most `columns` characters
/// (anything beyond is cut; `…` has its own glyph, another character outside ASCII is drawn as
/// `?`).
fn draw_text(sheet: &mut RgbaImage, x: u32, y: u32, text: &str, columns: usize) {
    for (column, ch) in (0u32..).zip(text.chars().take(columns)) {
        let glyph = match ch {
            ELLIPSIS => ELLIPSIS_GLYPH,
            ch if ch.is_ascii() => font8x8::legacy::BASIC_LEGACY[ch as usize],
            _ => font8x8::legacy::BASIC_LEGACY['?' as usize],
        };
        for (row, bits) in (0u32..).zip(glyph) {
            for bit in 0..8u32 {
                // Bit 0 is the leftmost pixel of the row.
                if bits & (1 << bit) != 0 {
                    let (px, py) = (x + column * GLYPH + bit, y + row);
                    if px < sheet.width() && py < sheet.height() {
                        sheet.put_pixel(px, py, INK);
                    }
                }
            }
        }
    }
}

/// What marks a cut text.
pub const ELLIPSIS: char = '…';

/// `text` in at most `max_lines` lines of at most `columns` characters (wrapped at spaces where
/// it can be): a line or a text that does not fit is cut and ends in `…`, so a cut reason is
/// seen to be cut.
pub fn fit_lines(text: &str, columns: usize, max_lines: usize) -> Vec<String> {
    if columns == 0 || max_lines == 0 {
        return Vec::new();
    }
    let cut = |line: &str| -> String {
        let mut kept: String = line.chars().take(columns.saturating_sub(1)).collect();
        kept.push(ELLIPSIS);
        kept
    };
    let mut lines: Vec<String> = wrap(text, columns)
        .into_iter()
        .map(|line| {
            if line.chars().count() > columns {
                cut(&line)
            } else {
                line
            }
        })
        .collect();
    if lines.len() > max_lines {
        lines.truncate(max_lines);
        if let Some(last) = lines.last_mut() {
            let trimmed = last.trim_end_matches(ELLIPSIS).to_owned();
            *last = if trimmed.chars().count() < columns {
                format!("{trimmed}{ELLIPSIS}")
            } else {
                cut(&trimmed)
            };
        }
    }
    lines
}

/// `text` broken into lines of at most `columns` characters, at spaces where it can be.
pub fn wrap(text: &str, columns: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let needed = if line.is_empty() {
            word.chars().count()
        } else {
            line.chars().count() + 1 + word.chars().count()
        };
        if needed > columns && !line.is_empty() {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> Layout {
        Layout {
            tile: 64,
            gap: 4,
            label_lines: 2,
        }
    }

    fn solid(w: u32, h: u32, color: [u8; 4]) -> RgbaImage {
        RgbaImage::from_pixel(w, h, Rgba(color))
    }

    #[test]
    fn the_size_follows_the_tiles_the_tile_size_and_the_label_band() {
        let l = layout();
        assert_eq!(l.label_band(), 24);
        assert_eq!(l.size(1), (4 + 64 + 4, 4 + 64 + 24 + 4));
        assert_eq!(l.size(5), (5 * 64 + 6 * 4, 96));
        let tiles: Vec<Tile> = (0..3)
            .map(|_| Tile {
                image: None,
                lines: vec![],
            })
            .collect();
        assert_eq!(render(&tiles, l).dimensions(), l.size(3));
        let d = Layout::default();
        assert_eq!(d.size(5), (5 * 320 + 6 * 8, 8 + 320 + 54 + 8));
    }

    #[test]
    fn each_tile_is_placed_where_the_layout_says_with_its_aspect_kept() {
        let l = layout();
        // A wide red image, then a tall blue one.
        let tiles = vec![
            Tile {
                image: Some(solid(200, 100, [255, 0, 0, 255])),
                lines: vec![],
            },
            Tile {
                image: Some(solid(50, 100, [0, 0, 255, 255])),
                lines: vec![],
            },
        ];
        let sheet = render(&tiles, l);
        let (x0, y0) = l.origin(0);
        let (x1, y1) = l.origin(1);
        assert_eq!((x0, y0), (4, 4));
        assert_eq!((x1, y1), (72, 4));
        // Red fills the width of tile 0, 32 high, centred: rows 16..48 of the tile.
        assert_eq!(sheet.get_pixel(x0, y0 + 16).0, [255, 0, 0, 255]);
        assert_eq!(sheet.get_pixel(x0 + 63, y0 + 47).0, [255, 0, 0, 255]);
        assert_ne!(sheet.get_pixel(x0 + 10, y0 + 5).0, [255, 0, 0, 255]);
        // Blue fills the height of tile 1, 32 wide, centred: columns 16..48.
        assert_eq!(sheet.get_pixel(x1 + 16, y1).0, [0, 0, 255, 255]);
        assert_eq!(sheet.get_pixel(x1 + 47, y1 + 63).0, [0, 0, 255, 255]);
        assert_ne!(sheet.get_pixel(x1 + 5, y1 + 10).0, [0, 0, 255, 255]);
        // The gap between them is the background.
        assert_eq!(sheet.get_pixel(x0 + 64 + 1, y0 + 30).0, BACKGROUND.0);
    }

    #[test]
    fn a_transparent_result_shows_the_checkerboard() {
        let l = layout();
        let tiles = vec![Tile {
            image: Some(solid(64, 64, [0, 255, 0, 0])),
            lines: vec![],
        }];
        let sheet = render(&tiles, l);
        let (x, y) = l.origin(0);
        assert_eq!(sheet.get_pixel(x + 1, y + 1).0, CHECK_LIGHT.0);
        assert_eq!(sheet.get_pixel(x + CHECK + 1, y + 1).0, CHECK_DARK.0);
        assert_eq!(
            sheet.get_pixel(x + CHECK + 1, y + CHECK + 1).0,
            CHECK_LIGHT.0
        );
        // A tile without a result is flat, not a checkerboard.
        let empty = render(
            &[Tile {
                image: None,
                lines: vec![],
            }],
            l,
        );
        assert_eq!(
            empty.get_pixel(x + 1, y + 1),
            empty.get_pixel(x + CHECK + 1, y + 1)
        );
    }

    #[test]
    fn labels_are_drawn_under_their_tile_only() {
        let l = layout();
        let ink_in = |sheet: &RgbaImage, x: u32, y: u32, w: u32, h: u32| {
            (y..y + h)
                .flat_map(|py| (x..x + w).map(move |px| (px, py)))
                .filter(|&(px, py)| *sheet.get_pixel(px, py) == INK)
                .count()
        };
        let tiles = vec![
            Tile {
                image: None,
                lines: vec!["topaz".into(), "1.5 s".into()],
            },
            Tile {
                image: None,
                lines: vec![],
            },
        ];
        let sheet = render(&tiles, l);
        let (lx, ly) = l.label_origin(0);
        let first = ink_in(&sheet, lx, ly, l.tile, LINE_HEIGHT);
        let second = ink_in(&sheet, lx, ly + LINE_HEIGHT, l.tile, LINE_HEIGHT);
        assert!(first > 20, "{first}");
        assert!(second > 10, "{second}");
        let (ox, oy) = l.label_origin(1);
        assert_eq!(ink_in(&sheet, ox, oy, l.tile, l.label_band() - 4), 0);
        // The tile itself has no ink.
        let (tx, ty) = l.origin(0);
        assert_eq!(ink_in(&sheet, tx, ty, l.tile, l.tile), 0);
    }

    #[test]
    fn long_reasons_wrap_at_spaces() {
        assert_eq!(
            wrap("cannot take a local file", 10),
            vec!["cannot", "take a", "local file"]
        );
        assert_eq!(wrap("", 10), Vec::<String>::new());
        assert_eq!(
            wrap("averyveryverylongword x", 5),
            vec!["averyveryverylongword", "x"]
        );
    }

    #[test]
    fn a_long_reason_fits_the_band_and_ends_in_an_ellipsis_when_cut() {
        // The default band holds the provider and four lines of 40 characters.
        let d = Layout::default();
        assert_eq!((d.label_lines, d.columns()), (5, 40));
        let reason = "failed: topaz: submit: HTTP 400: input_key: the image is not one the \
                      provider can read (expected JPEG, PNG or TIFF); check the file";
        let lines = fit_lines(reason, d.columns(), 4);
        assert_eq!(lines.len(), 4, "{lines:?}");
        assert!(
            !lines.concat().contains(ELLIPSIS),
            "all of it fits: {lines:?}"
        );
        assert_eq!(lines.concat().replace(' ', ""), reason.replace(' ', ""));
        assert!(lines.iter().all(|l| l.chars().count() <= 40), "{lines:?}");

        // Too long for the room: the last line says it was cut.
        let lines = fit_lines(reason, 20, 2);
        assert_eq!(lines.len(), 2);
        assert!(lines[1].ends_with(ELLIPSIS), "{lines:?}");
        assert!(lines.iter().all(|l| l.chars().count() <= 20), "{lines:?}");
        // A word longer than a line is cut there too.
        assert_eq!(
            fit_lines("https://example.com/a/very/long/path x", 10, 3),
            vec!["https://e…".to_owned(), "x".to_owned()]
        );
        assert_eq!(fit_lines("a b c", 3, 1), vec!["a …".to_owned()]);
        assert!(fit_lines("anything", 0, 3).is_empty());

        // The ellipsis is drawn (with its own glyph), not as `?`.
        let l = layout();
        let ink = |text: &str| {
            let sheet = render(
                &[Tile {
                    image: None,
                    lines: vec![text.to_owned()],
                }],
                l,
            );
            let (lx, ly) = l.label_origin(0);
            (ly..ly + LINE_HEIGHT)
                .flat_map(|y| (lx..lx + GLYPH).map(move |x| (x, y)))
                .filter(|&(x, y)| *sheet.get_pixel(x, y) == INK)
                .count()
        };
        assert_eq!(ink("…"), 3);
        assert!(ink("?") > 3);
    }
}

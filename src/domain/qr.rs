//! QR codes of short links, as SVG (for the page) and PNG (to put on screen in a stream).

use qrcode::{Color, EcLevel, QrCode};

/// Modules of empty border around the code (the standard quiet zone).
const QUIET: usize = 4;

fn code(text: &str) -> Result<QrCode, String> {
    QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)
        .map_err(|e| format!("cannot make a QR code: {e}"))
}

pub fn svg(text: &str, size_px: u32) -> Result<String, String> {
    let c = code(text)?;
    Ok(c.render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(size_px, size_px)
        .quiet_zone(true)
        .dark_color(qrcode::render::svg::Color("#111111"))
        .light_color(qrcode::render::svg::Color("#ffffff"))
        .build())
}

/// A grayscale PNG, `scale` pixels per module.
pub fn png(text: &str, scale: usize) -> Result<Vec<u8>, String> {
    let c = code(text)?;
    let width = c.width();
    let colors = c.to_colors();
    let side = (width + 2 * QUIET) * scale;
    let mut pixels = vec![255u8; side * side];
    for (i, color) in colors.iter().enumerate() {
        if *color == Color::Dark {
            let (mx, my) = (i % width + QUIET, i / width + QUIET);
            for y in my * scale..(my + 1) * scale {
                pixels[y * side + mx * scale..y * side + (mx + 1) * scale].fill(0);
            }
        }
    }
    let side_u32 = u32::try_from(side).map_err(|_| "QR code too large".to_owned())?;
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, side_u32, side_u32);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
        writer
            .write_image_data(&pixels)
            .map_err(|e| e.to_string())?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn renders_both_formats() {
        let svg = super::svg("http://127.0.0.1:8080/l/Abcdefgh23", 240).unwrap();
        assert!(svg.starts_with("<?xml") && svg.contains("<svg"));
        let png = super::png("http://127.0.0.1:8080/l/Abcdefgh23", 8).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    }
}

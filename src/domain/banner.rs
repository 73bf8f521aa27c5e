//! Banners seQura pushes (issue 32): where a banner may be shown, and what a banner image is.
//!
//! An image is taken for what its bytes are, never for what it is called: a PNG, JPEG or WEBP
//! whose header and structure read (a PNG's chunks with their checksums, a JPEG's segments up
//! to its scan and its end marker, a WEBP's RIFF container and first chunk), with sane
//! dimensions. No image crate is in the tree, so the pixels are not decoded: the browser does
//! that, and it only ever gets one of these three formats, served with its own type.

use std::fmt;

/// Where on the storefront a banner is shown: seQura's wire strings, the four page kinds
/// this app can place something on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum DisplayLocation {
    #[serde(rename = "displayOnHomePage")]
    Home,
    #[serde(rename = "displayOnProductPage")]
    Product,
    #[serde(rename = "displayOnCartPage")]
    Cart,
    #[serde(rename = "displayOnProductListingPage")]
    ProductListing,
}

impl DisplayLocation {
    pub const ALL: [DisplayLocation; 4] =
        [Self::Home, Self::Product, Self::Cart, Self::ProductListing];

    pub fn wire(self) -> &'static str {
        match self {
            Self::Home => "displayOnHomePage",
            Self::Product => "displayOnProductPage",
            Self::Cart => "displayOnCartPage",
            Self::ProductListing => "displayOnProductListingPage",
        }
    }

    /// One of the four wire strings, exactly; anything else is not a place this app has.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.wire() == s)
    }
}

impl fmt::Display for DisplayLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.wire())
    }
}

/// The path (below the app's public URL) a store's banner image `file` is served at.
pub fn banner_path(store: &crate::domain::StoreHash, file: &str) -> String {
    format!("/banners/{store}/{file}")
}

/// Whether `name` is a banner file name as the app writes them, `<CC>-<32 hex>.<ext>`: the
/// only names ever looked up on disk (no separator, no dot-dot, nothing else).
pub fn is_banner_file(name: &str) -> bool {
    let Some((stem, ext)) = name.split_once('.') else {
        return false;
    };
    let Some((country, hash)) = stem.split_once('-') else {
        return false;
    };
    ImageFormat::from_extension(ext).is_some()
        && country.len() == 2
        && country.bytes().all(|b| b.is_ascii_uppercase())
        && hash.len() == 32
        && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The image formats a banner may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    Png,
    Jpeg,
    Webp,
}

impl ImageFormat {
    pub const ALL: [ImageFormat; 3] = [Self::Png, Self::Jpeg, Self::Webp];

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::Webp => "image/webp",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Self::Png => "png",
            Self::Jpeg => "jpg",
            Self::Webp => "webp",
        }
    }

    pub fn from_extension(ext: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.extension() == ext)
    }
}

/// What a banner image is: its format and size in pixels (the storefront reserves that room
/// before the image arrives).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageInfo {
    pub format: ImageFormat,
    pub width: u32,
    pub height: u32,
}

/// Why bytes are not a banner image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageError {
    /// Not a PNG, JPEG or WEBP, or one cut short or damaged.
    NotAnImage,
    /// Zero, or larger than [`MAX_SIDE`] / [`MAX_PIXELS`]: a few compressed bytes could ask
    /// every shopper's browser for gigabytes.
    Dimensions,
}

/// The longest side a banner may have, in pixels.
pub const MAX_SIDE: u32 = 6000;
/// The most pixels a banner may have (a 6000 × 4000 photograph).
pub const MAX_PIXELS: u64 = 24_000_000;

/// What `bytes` are, when they are a PNG, JPEG or WEBP image.
pub fn sniff(bytes: &[u8]) -> Result<ImageInfo, ImageError> {
    let (format, width, height) = if bytes.starts_with(PNG_SIGNATURE) {
        let (w, h) = png(bytes)?;
        (ImageFormat::Png, w, h)
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        let (w, h) = jpeg(bytes)?;
        (ImageFormat::Jpeg, w, h)
    } else if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        let (w, h) = webp(bytes)?;
        (ImageFormat::Webp, w, h)
    } else {
        return Err(ImageError::NotAnImage);
    };
    if width == 0
        || height == 0
        || width > MAX_SIDE
        || height > MAX_SIDE
        || u64::from(width) * u64::from(height) > MAX_PIXELS
    {
        return Err(ImageError::Dimensions);
    }
    Ok(ImageInfo {
        format,
        width,
        height,
    })
}

const PNG_SIGNATURE: &[u8] = &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];

fn be32(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)
        .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..at + 2).map(|s| u16::from_be_bytes([s[0], s[1]]))
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn le16(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..at + 2).map(|s| u16::from_le_bytes([s[0], s[1]]))
}

/// A PNG (RFC 2083): IHDR first with valid fields, every chunk whole with its CRC right, at
/// least one IDAT, and IEND last, at the very end.
fn png(b: &[u8]) -> Result<(u32, u32), ImageError> {
    use ImageError::NotAnImage as Bad;
    let mut at = PNG_SIGNATURE.len();
    let mut size = None;
    let mut data = false;
    loop {
        let len = be32(b, at).ok_or(Bad)? as usize;
        let kind = b.get(at + 4..at + 8).ok_or(Bad)?;
        let end = at
            .checked_add(12)
            .and_then(|e| e.checked_add(len))
            .ok_or(Bad)?;
        if end > b.len() || !kind.iter().all(u8::is_ascii_alphabetic) {
            return Err(Bad);
        }
        let crc = be32(b, end - 4).ok_or(Bad)?;
        if crc32(&b[at + 4..end - 4]) != crc {
            return Err(Bad);
        }
        let body = &b[at + 8..end - 4];
        match (kind, size) {
            (b"IHDR", None) => {
                let ok = len == 13
                    && [1, 2, 4, 8, 16].contains(&body[8])
                    && [0, 2, 3, 4, 6].contains(&body[9])
                    && body[10] == 0
                    && body[11] == 0
                    && body[12] <= 1;
                if !ok {
                    return Err(Bad);
                }
                size = Some((be32(body, 0).ok_or(Bad)?, be32(body, 4).ok_or(Bad)?));
            }
            (_, None) | (b"IHDR", Some(_)) => return Err(Bad),
            (b"IDAT", Some(_)) => data = true,
            (b"IEND", Some(s)) => {
                return if len == 0 && end == b.len() && data {
                    Ok(s)
                } else {
                    Err(Bad)
                };
            }
            _ => {}
        }
        at = end;
    }
}

/// A JPEG (ITU T.81): segments from SOI, a frame header (SOFn) before the first scan, and the
/// EOI marker at the end (padding zeros after it tolerated).
fn jpeg(b: &[u8]) -> Result<(u32, u32), ImageError> {
    use ImageError::NotAnImage as Bad;
    let mut at = 2;
    let mut size = None;
    loop {
        if *b.get(at).ok_or(Bad)? != 0xFF {
            return Err(Bad);
        }
        // Fill bytes before a marker.
        while b.get(at + 1) == Some(&0xFF) {
            at += 1;
        }
        let marker = *b.get(at + 1).ok_or(Bad)?;
        at += 2;
        match marker {
            // Markers without a segment.
            0x01 | 0xD0..=0xD7 => continue,
            0xD8 | 0xD9 | 0x00 => return Err(Bad),
            _ => {}
        }
        let len = be16(b, at).ok_or(Bad)? as usize;
        if len < 2 || at + len > b.len() {
            return Err(Bad);
        }
        let is_frame = matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
        if is_frame {
            if len < 8 || size.is_some() {
                return Err(Bad);
            }
            let height = be16(b, at + 3).ok_or(Bad)?;
            let width = be16(b, at + 4 + 1).ok_or(Bad)?;
            size = Some((u32::from(width), u32::from(height)));
        }
        if marker == 0xDA {
            // The entropy-coded data runs to the end: the file must close with EOI.
            let size = size.ok_or(Bad)?;
            let trimmed = b
                .iter()
                .rposition(|&x| x != 0)
                .map_or(&b[..0], |i| &b[..=i]);
            return if trimmed.len() > at + len && trimmed.ends_with(&[0xFF, 0xD9]) {
                Ok(size)
            } else {
                Err(Bad)
            };
        }
        at += len;
    }
}

/// A WEBP (RIFF container, RFC 9649): the RIFF size is the file's, and the first chunk is a
/// lossy (`VP8 `), lossless (`VP8L`) or extended (`VP8X`) header that fits in the file.
fn webp(b: &[u8]) -> Result<(u32, u32), ImageError> {
    use ImageError::NotAnImage as Bad;
    let riff = le32(b, 4).ok_or(Bad)? as usize;
    if riff.checked_add(8) != Some(b.len()) {
        return Err(Bad);
    }
    let kind = b.get(12..16).ok_or(Bad)?;
    let len = le32(b, 16).ok_or(Bad)? as usize;
    if 20usize.checked_add(len).is_none_or(|end| end > b.len()) {
        return Err(Bad);
    }
    let d = &b[20..20 + len];
    match kind {
        b"VP8 " => {
            // A key frame: its start code, then 14-bit width and height.
            if d.len() < 10 || d[0] & 1 != 0 || d[3..6] != [0x9D, 0x01, 0x2A] {
                return Err(Bad);
            }
            let w = le16(d, 6).ok_or(Bad)? & 0x3FFF;
            let h = le16(d, 8).ok_or(Bad)? & 0x3FFF;
            Ok((u32::from(w), u32::from(h)))
        }
        b"VP8L" => {
            if d.len() < 5 || d[0] != 0x2F {
                return Err(Bad);
            }
            let bits = le32(d, 1).ok_or(Bad)?;
            Ok(((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1))
        }
        b"VP8X" => {
            if d.len() < 10 {
                return Err(Bad);
            }
            let w = u32::from_le_bytes([d[4], d[5], d[6], 0]) + 1;
            let h = u32::from_le_bytes([d[7], d[8], d[9], 0]) + 1;
            Ok((w, h))
        }
        _ => Err(Bad),
    }
}

/// CRC-32 (ISO 3309, the one PNG's chunks carry).
fn crc32(bytes: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut t = [0u32; 256];
        let mut n = 0;
        while n < 256 {
            let mut c = n as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            t[n] = c;
            n += 1;
        }
        t
    };
    !bytes.iter().fold(!0u32, |c, &b| {
        TABLE[((c ^ u32::from(b)) & 0xFF) as usize] ^ (c >> 8)
    })
}

/// Test images built from the formats' specifications (no image file is checked in).
#[cfg(test)]
pub mod samples {
    use super::crc32;

    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let start = out.len();
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let crc = crc32(&out[start..]);
        out.extend_from_slice(&crc.to_be_bytes());
    }

    /// A real `width` × `height` PNG, one opaque colour (the pixels stored uncompressed in a
    /// zlib stream), that browsers draw.
    pub fn png(width: u32, height: u32, rgb: [u8; 3]) -> Vec<u8> {
        // Each row: filter type 0 (none), then its pixels.
        let row: Vec<u8> = std::iter::once(0)
            .chain(rgb.repeat(width as usize))
            .collect();
        let raw = row.repeat(height as usize);
        // zlib: header, stored (uncompressed) deflate blocks of up to 65535 bytes, Adler-32.
        let mut z = vec![0x78, 0x01];
        let blocks: Vec<&[u8]> = raw.chunks(65_535).collect();
        for (i, block) in blocks.iter().enumerate() {
            z.push(u8::from(i + 1 == blocks.len()));
            let len = block.len() as u16;
            z.extend_from_slice(&len.to_le_bytes());
            z.extend_from_slice(&(!len).to_le_bytes());
            z.extend_from_slice(block);
        }
        let (mut a, mut b) = (1u32, 0u32);
        for &x in &raw {
            a = (a + u32::from(x)) % 65_521;
            b = (b + a) % 65_521;
        }
        z.extend_from_slice(&((b << 16) | a).to_be_bytes());
        let mut out = super::PNG_SIGNATURE.to_vec();
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(&width.to_be_bytes());
        ihdr.extend_from_slice(&height.to_be_bytes());
        ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB
        chunk(&mut out, b"IHDR", &ihdr);
        chunk(&mut out, b"IDAT", &z);
        chunk(&mut out, b"IEND", &[]);
        out
    }

    /// The header of a `width` × `height` baseline JPEG: SOI, a JFIF APP0, SOF0, SOS and a
    /// few bytes of scan, EOI. Its structure reads; its pixels are not meant to.
    pub fn jpeg(width: u16, height: u16) -> Vec<u8> {
        let mut out = vec![0xFF, 0xD8];
        out.extend_from_slice(&[0xFF, 0xE0, 0x00, 0x10]);
        out.extend_from_slice(b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
        out.extend_from_slice(&[0xFF, 0xC0, 0x00, 0x0B, 0x08]);
        out.extend_from_slice(&height.to_be_bytes());
        out.extend_from_slice(&width.to_be_bytes());
        out.extend_from_slice(&[0x01, 0x01, 0x11, 0x00]);
        out.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3F, 0x00]);
        out.extend_from_slice(&[0x12, 0x34, 0xFF, 0x00, 0x56]);
        out.extend_from_slice(&[0xFF, 0xD9]);
        out
    }

    /// A lossless WEBP header of `width` × `height` in its RIFF container.
    pub fn webp(width: u32, height: u32) -> Vec<u8> {
        let bits = (width - 1) | ((height - 1) << 14);
        let mut d = vec![0x2F];
        d.extend_from_slice(&bits.to_le_bytes());
        d.extend_from_slice(&[0, 0, 0]);
        let mut out = b"RIFF".to_vec();
        out.extend_from_slice(&((4 + 8 + d.len()) as u32).to_le_bytes());
        out.extend_from_slice(b"WEBPVP8L");
        out.extend_from_slice(&(d.len() as u32).to_le_bytes());
        out.extend_from_slice(&d);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_seguras_four_wire_strings() {
        for l in DisplayLocation::ALL {
            assert_eq!(DisplayLocation::parse(l.wire()), Some(l));
        }
        assert_eq!(DisplayLocation::parse("displayOnCheckoutPage"), None);
        assert_eq!(DisplayLocation::parse("displayonhomepage"), None);
    }

    #[test]
    fn only_names_the_app_writes_are_banner_files() {
        assert!(is_banner_file("ES-0123456789abcdef0123456789abcdef.png"));
        assert!(is_banner_file("FR-0123456789abcdef0123456789abcdef.webp"));
        for bad in [
            "../0123456789abcdef0123456789abcdef.png",
            "ES-0123456789abcdef0123456789abcdef.png/..",
            "ES-0123456789ABCDEF0123456789abcdef.png",
            "es-0123456789abcdef0123456789abcdef.png",
            "ES-0123456789abcdef0123456789abcdef.svg",
            "ES-0123456789abcdef0123456789abcde.png",
            "ES-0123456789abcdef0123456789abcdef.png.png",
            ".tmp123",
            "",
        ] {
            assert!(!is_banner_file(bad), "{bad}");
        }
    }

    #[test]
    fn crc32_is_iso_3309s() {
        // The check value of CRC-32 (and IEND's CRC, in every PNG).
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b"IEND"), 0xAE42_6082);
    }

    #[test]
    fn real_pngs_jpegs_and_webps_read_with_their_size() {
        let png = samples::png(3, 2, [200, 10, 10]);
        assert_eq!(
            sniff(&png),
            Ok(ImageInfo {
                format: ImageFormat::Png,
                width: 3,
                height: 2
            })
        );
        assert_eq!(
            sniff(&samples::jpeg(640, 200)).map(|i| (i.format, i.width, i.height)),
            Ok((ImageFormat::Jpeg, 640, 200))
        );
        assert_eq!(
            sniff(&samples::webp(728, 90)).map(|i| (i.format, i.width, i.height)),
            Ok((ImageFormat::Webp, 728, 90))
        );
    }

    #[test]
    fn anything_disguised_damaged_or_cut_short_is_not_an_image() {
        let png = samples::png(3, 2, [1, 2, 3]);
        // A PNG signature in front of anything else.
        let mut disguised = PNG_SIGNATURE.to_vec();
        disguised.extend_from_slice(b"<script>alert(1)</script>");
        assert_eq!(sniff(&disguised), Err(ImageError::NotAnImage));
        // One byte changed: a chunk's CRC no longer matches.
        let mut damaged = png.clone();
        damaged[30] ^= 1;
        assert_eq!(sniff(&damaged), Err(ImageError::NotAnImage));
        // Cut short, or something after IEND.
        for n in [8, 20, 33, png.len() - 1] {
            assert_eq!(sniff(&png[..n]), Err(ImageError::NotAnImage), "{n}");
        }
        let mut trailing = png.clone();
        trailing.extend_from_slice(b"<svg/>");
        assert_eq!(sniff(&trailing), Err(ImageError::NotAnImage));
        let jpeg = samples::jpeg(10, 10);
        assert_eq!(
            sniff(&jpeg[..jpeg.len() - 2]),
            Err(ImageError::NotAnImage),
            "no EOI"
        );
        assert_eq!(sniff(&jpeg[..12]), Err(ImageError::NotAnImage));
        let webp = samples::webp(10, 10);
        assert_eq!(sniff(&webp[..webp.len() - 1]), Err(ImageError::NotAnImage));
        for other in [
            &b"GIF89a\x01\x00\x01\x00"[..],
            b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
            b"",
            b"\xFF\xD8",
        ] {
            assert_eq!(sniff(other), Err(ImageError::NotAnImage));
        }
    }

    #[test]
    fn sizes_are_bounded() {
        assert_eq!(
            sniff(&samples::jpeg(0, 10)),
            Err(ImageError::Dimensions),
            "no width"
        );
        assert_eq!(
            sniff(&samples::jpeg(MAX_SIDE as u16 + 1, 10)),
            Err(ImageError::Dimensions)
        );
        assert_eq!(
            sniff(&samples::webp(5000, 5000)),
            Err(ImageError::Dimensions),
            "25 Mpx"
        );
        assert!(sniff(&samples::webp(6000, 4000)).is_ok());
    }
}

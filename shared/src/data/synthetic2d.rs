//! Synthetic chest radiographs with text, the default data for tests and demos of the AMVLM
//! vision-language model: the description says where the lesions are, so a model that reads it can
//! be checked to look at the right place.
//!
//! Each image is a grey frontal radiograph: bright soft tissue and mediastinum, two dark lung
//! fields, faint rib arcs, a heart shadow and smooth noise. Lesions are bright, blurry, irregular
//! opacities (1 to 3 by default), each inside one lung *zone* (upper, middle or lower third of a
//! lung's height), never two in the same zone; the mask is their union. The description follows
//! QaTa-COV19's LViT texts, e.g. "Bilateral pulmonary infection, two infected areas, upper left
//! lung and lower right lung.", naming the lesions in a fixed order (left lung first, then top to
//! bottom); [`Synth2dSample::lesions`] is in that same order.
//!
//! **Sides are the patient's, as radiologists read a frontal film: the patient's left lung is on
//! the image's RIGHT** (columns above the middle), the right lung on the image's left.

use super::image2d::{Image2d, Image2dError, Mask2d, MaskResize};
use super::lvit::LvitSplit;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::f64::consts::PI;
use std::ops::Range;

/// A lung, by the patient's side (the patient's left is the image's right).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The patient's left lung: the image's right half.
    Left,
    /// The patient's right lung: the image's left half.
    Right,
}

/// A third of a lung's height.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Zone {
    Upper,
    Middle,
    Lower,
}

impl Side {
    pub const ALL: [Side; 2] = [Side::Left, Side::Right];

    /// `left` or `right`.
    pub fn name(self) -> &'static str {
        match self {
            Side::Left => "left",
            Side::Right => "right",
        }
    }

    /// Whether this lung is drawn on the image's right half (true for the patient's left).
    pub fn on_image_right(self) -> bool {
        self == Side::Left
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl Zone {
    pub const ALL: [Zone; 3] = [Zone::Upper, Zone::Middle, Zone::Lower];

    /// `upper`, `middle` or `lower`.
    pub fn name(self) -> &'static str {
        match self {
            Zone::Upper => "upper",
            Zone::Middle => "middle",
            Zone::Lower => "lower",
        }
    }
}

/// One opacity.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Lesion {
    pub side: Side,
    pub zone: Zone,
    /// Centre (row, column) in pixels.
    pub center: (f64, f64),
    /// Mean radius in pixels (the outline wobbles by up to a quarter of it).
    pub radius: f64,
    /// Brightness added at the centre, on a 0..1 grey scale.
    pub contrast: f64,
    /// `[row_min, col_min, row_max, col_max]` of its mask pixels, inclusive.
    pub bbox: [usize; 4],
    /// Its number of mask pixels.
    pub pixels: usize,
}

impl Lesion {
    /// How the description names it, e.g. `upper left lung`.
    pub fn phrase(&self) -> String {
        format!("{} {} lung", self.zone.name(), self.side.name())
    }
}

/// How to generate images.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Synth2dConfig {
    /// Image side in pixels (square images).
    pub size: usize,
    /// Lesions per image, drawn uniformly in `min_lesions..=max_lesions` (at most 6 zones).
    pub min_lesions: usize,
    pub max_lesions: usize,
    /// Lesion mean radius range, as a fraction of the image side.
    pub min_radius: f64,
    pub max_radius: f64,
    /// Standard deviation of the per-pixel noise (0..1 grey scale).
    pub noise: f64,
}

impl Default for Synth2dConfig {
    fn default() -> Self {
        Synth2dConfig {
            size: 224,
            min_lesions: 1,
            max_lesions: 3,
            min_radius: 0.045,
            max_radius: 0.07,
            noise: 0.015,
        }
    }
}

/// A configuration that cannot generate images.
#[derive(Debug, thiserror::Error)]
pub enum Synth2dError {
    #[error("image size {0} is too small; use at least 48 pixels (AMVLM uses 224)")]
    TooSmall(usize),
    #[error("image size {0} is too large; use at most 4096 pixels")]
    TooLarge(usize),
    #[error("lesion counts {min}..={max} are not possible; use 0 <= min <= max <= 6 (one lesion per lung zone)")]
    LesionCount { min: usize, max: usize },
    #[error("lesion radius range {min}..{max} (fractions of the image side) is not usable; use 0 < min <= max <= 0.07")]
    Radius { min: f64, max: f64 },
    #[error("noise {0} is not usable; use a value in 0..=0.5")]
    Noise(f64),
}

impl Synth2dConfig {
    /// Check the configuration.
    pub fn validate(&self) -> Result<(), Synth2dError> {
        if self.size < 48 {
            return Err(Synth2dError::TooSmall(self.size));
        }
        if self.size > 4096 {
            return Err(Synth2dError::TooLarge(self.size));
        }
        if self.min_lesions > self.max_lesions || self.max_lesions > 6 {
            return Err(Synth2dError::LesionCount {
                min: self.min_lesions,
                max: self.max_lesions,
            });
        }
        let r_ok = |r: f64| r.is_finite() && r > 0.0 && r <= 0.07;
        if !r_ok(self.min_radius) || !r_ok(self.max_radius) || self.min_radius > self.max_radius {
            return Err(Synth2dError::Radius {
                min: self.min_radius,
                max: self.max_radius,
            });
        }
        if !(0.0..=0.5).contains(&self.noise) {
            return Err(Synth2dError::Noise(self.noise));
        }
        Ok(())
    }
}

/// One generated radiograph.
#[derive(Debug, Clone, PartialEq)]
pub struct Synth2dSample {
    pub size: usize,
    /// Grey levels, `image[row * size + col]`.
    pub image: Vec<u8>,
    /// 0/1, the union of the lesions.
    pub mask: Vec<u8>,
    /// The lung fields: 0 outside, 1 the patient's left lung (image right), 2 the right lung.
    pub lungs: Vec<u8>,
    /// The description (see [`describe_lesions`]).
    pub text: String,
    /// The lesions in the order the text names them.
    pub lesions: Vec<Lesion>,
    /// First and last row (inclusive) of each lung field, indexed by `Side as usize`.
    pub lung_rows: [(usize, usize); 2],
}

impl Synth2dSample {
    /// The rows of a lung zone: the lung's rows split in three (the lower thirds take the rest).
    pub fn zone_rows(&self, side: Side, zone: Zone) -> Range<usize> {
        zone_rows(self.lung_rows[side.index()], zone)
    }

    /// Which zone of this lung a row is in (None above or below the lung).
    pub fn zone_of_row(&self, side: Side, row: usize) -> Option<Zone> {
        Zone::ALL
            .into_iter()
            .find(|&z| self.zone_rows(side, z).contains(&row))
    }

    /// The lung label value of a side in [`Synth2dSample::lungs`].
    pub fn lung_label(side: Side) -> u8 {
        side.index() as u8 + 1
    }

    /// The image as the model's input (RGB in [0, 1], resized to `size` like a decoded PNG).
    pub fn image2d(&self, size: usize) -> Result<Image2d, Image2dError> {
        Image2d::from_gray8(&self.image, self.size, self.size, size)
    }

    /// The mask at the model's size.
    pub fn mask2d(&self, size: usize, how: MaskResize) -> Result<Mask2d, Image2dError> {
        Mask2d::from_values(&self.mask, self.size, self.size, size, how)
    }
}

fn zone_rows((top, bottom): (usize, usize), zone: Zone) -> Range<usize> {
    let h = bottom + 1 - top;
    let cut = |k: usize| top + h * k / 3;
    match zone {
        Zone::Upper => cut(0)..cut(1),
        Zone::Middle => cut(1)..cut(2),
        Zone::Lower => cut(2)..bottom + 1,
    }
}

const NUMBERS: [&str; 7] = ["no", "one", "two", "three", "four", "five", "six"];

/// The description of these lesions, in QaTa-COV19's style: "Unilateral pulmonary infection, one
/// infected area, middle right lung." Lesions are named in the order given; `synthetic_cxr` sorts them
/// left lung first, then upper to lower. Without lesions: "No pulmonary infection."
pub fn describe_lesions(lesions: &[Lesion]) -> String {
    if lesions.is_empty() {
        return "No pulmonary infection.".into();
    }
    let bilateral = lesions.iter().any(|l| l.side != lesions[0].side);
    let n = lesions.len();
    let count = NUMBERS
        .get(n)
        .copied()
        .map(String::from)
        .unwrap_or(n.to_string());
    let phrases: Vec<String> = lesions.iter().map(Lesion::phrase).collect();
    let places = match phrases.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => phrases[0].clone(),
    };
    format!(
        "{} pulmonary infection, {count} infected area{}, {places}.",
        if bilateral { "Bilateral" } else { "Unilateral" },
        if n == 1 { "" } else { "s" },
    )
}

/// The generator index of the `k`-th image of a split written by `semiseg synth 2d`: splits use
/// disjoint index ranges, so changing one split's size does not change the others' images.
pub fn synth2d_index(split: LvitSplit, k: usize) -> usize {
    let base = match split {
        LvitSplit::Train | LvitSplit::TrainAll => 0,
        LvitSplit::Val => 1_000_000,
        LvitSplit::Test => 2_000_000,
    };
    base + k
}

/// The file name (image and mask) of the `k`-th image of a split, e.g. `train_00007.png`.
pub fn synth2d_name(split: LvitSplit, k: usize) -> String {
    format!("{}_{k:05}.png", split.name())
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn smoothstep(edge0: f64, edge1: f64, x: f64) -> f64 {
    let t = ((x - edge0) / (edge1 - edge0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// Smooth random field: random values on a coarse `cells x cells` grid, interpolated.
struct ValueNoise {
    cells: usize,
    values: Vec<f64>,
}

impl ValueNoise {
    fn new(rng: &mut ChaCha8Rng, cells: usize) -> ValueNoise {
        let values = (0..(cells + 1) * (cells + 1))
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        ValueNoise { cells, values }
    }

    /// At normalised (x, y) in [0, 1].
    fn at(&self, x: f64, y: f64) -> f64 {
        let n = self.cells as f64;
        let (fx, fy) = ((x * n).clamp(0.0, n - 1e-9), (y * n).clamp(0.0, n - 1e-9));
        let (ix, iy) = (fx.floor() as usize, fy.floor() as usize);
        let (tx, ty) = (
            smoothstep(0.0, 1.0, fx - ix as f64),
            smoothstep(0.0, 1.0, fy - iy as f64),
        );
        let v = |i: usize, j: usize| self.values[j * (self.cells + 1) + i];
        let top = v(ix, iy) * (1.0 - tx) + v(ix + 1, iy) * tx;
        let bottom = v(ix, iy + 1) * (1.0 - tx) + v(ix + 1, iy + 1) * tx;
        top * (1.0 - ty) + bottom * ty
    }
}

/// A wobbly ellipse in normalised image coordinates.
struct Blob {
    cx: f64,
    cy: f64,
    ax: f64,
    ay: f64,
    /// (amplitude, frequency, phase) of the outline's wobble.
    wobble: Vec<(f64, f64, f64)>,
}

impl Blob {
    /// < 1 inside, 1 on the outline.
    fn rho(&self, x: f64, y: f64) -> f64 {
        let (dx, dy) = ((x - self.cx) / self.ax, (y - self.cy) / self.ay);
        let theta = dy.atan2(dx);
        let scale: f64 = 1.0
            + self
                .wobble
                .iter()
                .map(|(a, k, p)| a * (k * theta + p).cos())
                .sum::<f64>();
        (dx * dx + dy * dy).sqrt() / scale
    }
}

/// A lung field: a wobbly ellipse cut from below by the dome of the diaphragm.
struct Lung {
    outline: Blob,
    /// The diaphragm's height (y) away from the dome, and the dome's rise, centre and width.
    dome_base: f64,
    dome_height: f64,
    dome_x: f64,
    dome_width: f64,
}

impl Lung {
    fn diaphragm(&self, x: f64) -> f64 {
        self.dome_base - self.dome_height * (-((x - self.dome_x) / self.dome_width).powi(2)).exp()
    }

    fn inside(&self, x: f64, y: f64) -> bool {
        self.outline.rho(x, y) < 1.0 && y < self.diaphragm(x)
    }

    /// 1 well inside, 0 well outside, smooth across the border.
    fn soft(&self, x: f64, y: f64, edge: f64) -> f64 {
        let d = self.diaphragm(x);
        let dy = edge * self.outline.ay * 0.6;
        smoothstep(1.0 + edge, 1.0 - edge, self.outline.rho(x, y)) * smoothstep(d + dy, d - dy, y)
    }
}

/// Generate image `index` of the set with this `seed` (the same pair always gives the same image,
/// on every platform).
pub fn synthetic_cxr(
    config: &Synth2dConfig,
    seed: u64,
    index: usize,
) -> Result<Synth2dSample, Synth2dError> {
    config.validate()?;
    let mut rng = ChaCha8Rng::seed_from_u64(splitmix(seed ^ splitmix(index as u64)));
    let s = config.size;
    let sf = s as f64;
    let norm = |p: usize| (p as f64 + 0.5) / sf;

    // Anatomy, in normalised coordinates (x to the image's right, y down).
    let lung_y = rng.random_range(0.44..0.47);
    let spread = rng.random_range(0.2..0.215);
    let lung = |rng: &mut ChaCha8Rng, side: Side| {
        let dir = if side.on_image_right() { 1.0 } else { -1.0 };
        let cx = 0.5 + dir * (spread + rng.random_range(-0.008..0.008));
        let ay = rng.random_range(0.31..0.34);
        let cy = lung_y + rng.random_range(-0.01..0.01);
        // the right hemidiaphragm sits a little higher than the left
        let dome_base = cy + ay * if side == Side::Right { 0.78 } else { 0.83 };
        Lung {
            outline: Blob {
                cx,
                cy,
                ax: rng.random_range(0.15..0.17),
                ay,
                wobble: (2..5)
                    .map(|k| {
                        (
                            rng.random_range(0.0..0.025),
                            k as f64,
                            rng.random_range(0.0..2.0 * PI),
                        )
                    })
                    .collect(),
            },
            dome_base,
            dome_height: rng.random_range(0.035..0.06),
            dome_x: cx - dir * 0.02,
            dome_width: rng.random_range(0.08..0.1),
        }
    };
    let lungs_shape = [lung(&mut rng, Side::Left), lung(&mut rng, Side::Right)];
    let heart = Blob {
        cx: rng.random_range(0.55..0.58),
        cy: rng.random_range(0.7..0.73),
        ax: rng.random_range(0.15..0.17),
        ay: rng.random_range(0.11..0.13),
        wobble: vec![(
            rng.random_range(0.0..0.04),
            2.0,
            rng.random_range(0.0..2.0 * PI),
        )],
    };
    let body = Blob {
        cx: 0.5,
        cy: 0.58,
        ax: rng.random_range(0.45..0.49),
        ay: 0.62,
        wobble: vec![(0.04, 4.0, PI)], // squarer shoulders
    };
    let rib_start = lung_y - 0.3 + rng.random_range(-0.01..0.01);
    let clavicle_y = rng.random_range(0.13..0.16);
    let rib_gap = rng.random_range(0.068..0.078);
    let tissue = rng.random_range(0.55..0.65);
    let lung_grey = rng.random_range(0.17..0.25);
    let noise_coarse = ValueNoise::new(&mut rng, 5);
    let noise_fine = ValueNoise::new(&mut rng, 17);

    // Lung fields (hard, for masks and zones) and their soft-edged version (for drawing).
    let n = s * s;
    let mut lungs = vec![0u8; n];
    let mut lung_soft = vec![0.0f64; n];
    let edge = 0.06;
    for r in 0..s {
        for c in 0..s {
            let (x, y) = (norm(c), norm(r));
            let h = heart.rho(x, y);
            for side in Side::ALL {
                let lung = &lungs_shape[side.index()];
                let soft = lung.soft(x, y, edge) * smoothstep(1.0 - edge, 1.0 + edge, h);
                if soft > 0.0 {
                    lung_soft[r * s + c] = soft;
                }
                if lung.inside(x, y) && h >= 1.0 {
                    lungs[r * s + c] = Synth2dSample::lung_label(side);
                }
            }
        }
    }
    let mut lung_rows = [(0usize, 0usize); 2];
    for side in Side::ALL {
        let label = Synth2dSample::lung_label(side);
        let rows: Vec<usize> = (0..s)
            .filter(|&r| lungs[r * s..(r + 1) * s].contains(&label))
            .collect();
        lung_rows[side.index()] = (rows[0], *rows.last().unwrap());
    }

    // Lesions: distinct zones, drawn before any per-pixel noise so they do not depend on it.
    let count = rng.random_range(config.min_lesions..=config.max_lesions);
    let mut slots: Vec<(Side, Zone)> = Side::ALL
        .into_iter()
        .flat_map(|side| Zone::ALL.into_iter().map(move |z| (side, z)))
        .collect();
    slots.shuffle(&mut rng);
    slots.truncate(count);
    slots.sort();
    let mut mask = vec![0u8; n];
    let mut opacity = vec![0.0f64; n];
    let mut lesions = Vec::with_capacity(count);
    for (side, zone) in slots {
        let band = zone_rows(lung_rows[side.index()], zone);
        let lesion = place_lesion(
            &mut rng,
            config,
            &lungs,
            side,
            zone,
            band,
            &mut mask,
            &mut opacity,
        );
        lesions.push(lesion);
    }

    // Ribs: posterior arcs rising from the spine and falling laterally.
    let rib = |x: f64, y: f64| -> f64 {
        let t = (x - 0.5).abs() / 0.4;
        let mut v: f64 = 0.0;
        for k in 0..11 {
            let yc = rib_start + k as f64 * rib_gap - 0.035 * t + 0.14 * t * t;
            let d = (y - yc) / 0.016;
            if d.abs() < 1.0 {
                v = v.max((d * PI / 2.0).cos().powi(2));
            }
        }
        v
    };

    // Clavicles: from the top of the sternum out and up to the shoulders.
    let clavicle = |x: f64, y: f64| -> f64 {
        let t = (x - 0.5).abs();
        if !(0.04..0.36).contains(&t) {
            return 0.0;
        }
        let yc = clavicle_y - 0.12 * (t - 0.04) + 0.35 * (t - 0.2).powi(2);
        let d = (y - yc) / 0.017;
        if d.abs() < 1.0 {
            (d * PI / 2.0).cos().powi(2) * smoothstep(0.36, 0.3, t) * smoothstep(0.04, 0.08, t)
        } else {
            0.0
        }
    };

    let mut image = Vec::with_capacity(n);
    for r in 0..s {
        for c in 0..s {
            let (x, y) = (norm(c), norm(r));
            let i = r * s + c;
            let in_body = smoothstep(1.03, 0.97, body.rho(x, y));
            let mediastinum = smoothstep(0.11, 0.05, (x - 0.5).abs()) * smoothstep(0.05, 0.15, y);
            let heart_v = smoothstep(1.05, 0.95, heart.rho(x, y));
            let mut v = 0.04 + in_body * (tissue - 0.04 + 0.06 * (y - 0.5));
            v += in_body * 0.16 * mediastinum;
            v += 0.12 * heart_v * (1.0 - mediastinum);
            // lungs: darker at the top and laterally, vessels brighten the hila
            let hilum = (-((x - 0.5).abs() - 0.1).powi(2) / 0.004
                - (y - lung_y - 0.02).powi(2) / 0.01)
                .exp();
            let lung_v = lung_grey + 0.08 * (y - lung_y) - 0.1 * ((x - 0.5).abs() - 0.2).max(0.0)
                + 0.08 * hilum
                + (0.02 + 0.03 * hilum) * noise_fine.at(x, y);
            v = v * (1.0 - lung_soft[i]) + lung_v * lung_soft[i];
            v += (rib(x, y) * (0.02 + 0.045 * lung_soft[i]) + 0.07 * clavicle(x, y)) * in_body;
            v += opacity[i] * (0.85 + 0.15 * noise_fine.at(y, x)) * lung_soft[i].max(0.3);
            v += 0.035 * noise_coarse.at(x, y);
            if config.noise > 0.0 {
                // Box-Muller
                let (u1, u2): (f64, f64) = (rng.random_range(1e-12..1.0), rng.random());
                v += config.noise * (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos();
            }
            image.push((v.clamp(0.0, 1.0) * 255.0).round() as u8);
        }
    }
    let text = describe_lesions(&lesions);
    Ok(Synth2dSample {
        size: s,
        image,
        mask,
        lungs,
        text,
        lesions,
        lung_rows,
    })
}

/// Place one lesion in a lung zone: choose a centre well inside the lung and the zone's rows,
/// write its mask (clipped to the lung and the zone) and its blurry opacity.
#[allow(clippy::too_many_arguments)]
fn place_lesion(
    rng: &mut ChaCha8Rng,
    config: &Synth2dConfig,
    lungs: &[u8],
    side: Side,
    zone: Zone,
    band: Range<usize>,
    mask: &mut [u8],
    opacity: &mut [f64],
) -> Lesion {
    let s = config.size;
    let label = Synth2dSample::lung_label(side);
    let in_lung = |r: i64, c: i64| {
        r >= band.start as i64
            && r < band.end as i64
            && c >= 0
            && c < s as i64
            && lungs[r as usize * s + c as usize] == label
    };
    let band_half = (band.end - band.start) as f64 / 2.0;
    let cols: Vec<usize> = (0..s)
        .filter(|&c| band.clone().any(|r| lungs[r * s + c] == label))
        .collect();
    let (c_lo, c_hi) = match (cols.first(), cols.last()) {
        (Some(&lo), Some(&hi)) => (lo as f64, hi as f64 + 1.0),
        _ => (0.0, s as f64),
    };
    let mut radius = rng.random_range(config.min_radius..=config.max_radius) * s as f64;
    // The outline reaches at most 1.25 x the mean radius: keep that inside the zone's rows.
    radius = radius.min((band_half - 0.5) / 1.25).max(1.0);
    // If no centre is found below: the zone's lung pixel nearest to the zone's centroid.
    let zone_pixels: Vec<(usize, usize)> = band
        .clone()
        .flat_map(|r| (0..s).map(move |c| (r, c)))
        .filter(|&(r, c)| lungs[r * s + c] == label)
        .collect();
    let mean = |f: fn(&(usize, usize)) -> usize| {
        zone_pixels.iter().map(f).sum::<usize>() as f64 / zone_pixels.len().max(1) as f64
    };
    let (mr, mc) = (mean(|p| p.0), mean(|p| p.1));
    let mut center = zone_pixels
        .iter()
        .min_by(|a, b| {
            let d = |p: &(usize, usize)| (p.0 as f64 - mr).powi(2) + (p.1 as f64 - mc).powi(2);
            d(a).total_cmp(&d(b))
        })
        .map(|&(r, c)| (r as f64 + 0.5, c as f64 + 0.5))
        .unwrap_or(((band.start + band.end) as f64 / 2.0, (c_lo + c_hi) / 2.0));
    'search: for attempt in 0..400 {
        if attempt > 0 && attempt % 100 == 0 {
            radius = (radius * 0.75).max(1.0);
        }
        let reach = 1.25 * radius;
        let (r_lo, r_hi) = (band.start as f64 + reach, band.end as f64 - reach);
        let row = if r_hi > r_lo {
            rng.random_range(r_lo..r_hi)
        } else {
            (band.start + band.end) as f64 / 2.0
        };
        let col = rng.random_range(c_lo..c_hi);
        // Most of the disc of half the radius must be lung, and the centre itself.
        let half = (radius / 2.0).max(0.5);
        let mut inside = 0;
        let mut total = 0;
        let k = half.ceil() as i64;
        for dr in -k..=k {
            for dc in -k..=k {
                if ((dr * dr + dc * dc) as f64) <= half * half {
                    total += 1;
                    inside += in_lung(
                        (row + dr as f64).floor() as i64,
                        (col + dc as f64).floor() as i64,
                    ) as usize;
                }
            }
        }
        if in_lung(row.floor() as i64, col.floor() as i64) && inside * 10 >= total * 9 {
            center = (row, col);
            break 'search;
        }
    }
    // An irregular outline: mostly elongation (2) and a lopsided bulge (3), a little ripple (5);
    // the amplitudes add up to at most 0.24, within the 1.25 x radius reach assumed above.
    let wobble: Vec<(f64, f64, f64)> = [(2.0, 0.12), (3.0, 0.08), (5.0, 0.04)]
        .into_iter()
        .map(|(k, max)| {
            (
                rng.random_range(0.0..max),
                k,
                rng.random_range(0.0..2.0 * PI),
            )
        })
        .collect();
    let contrast = rng.random_range(0.4..0.55);
    let blur = rng.random_range(0.35..0.6);
    let outline = |dr: f64, dc: f64| {
        let theta = dr.atan2(dc);
        radius
            * (1.0
                + wobble
                    .iter()
                    .map(|(a, k, p)| a * (k * theta + p).cos())
                    .sum::<f64>())
    };
    let reach = (1.25 * radius * (1.0 + blur)).ceil() as i64 + 1;
    let (cr, cc) = center;
    let mut bbox = [usize::MAX, usize::MAX, 0, 0];
    let mut pixels = 0;
    for r in (cr as i64 - reach).max(0)..(cr as i64 + reach + 1).min(s as i64) {
        for c in (cc as i64 - reach).max(0)..(cc as i64 + reach + 1).min(s as i64) {
            let (dr, dc) = (r as f64 + 0.5 - cr, c as f64 + 0.5 - cc);
            let d = (dr * dr + dc * dc).sqrt();
            let edge = outline(dr, dc);
            let i = r as usize * s + c as usize;
            let alpha = smoothstep(edge * (1.0 + blur), edge * (1.0 - blur), d);
            opacity[i] = opacity[i].max(contrast * alpha);
            if d < edge && in_lung(r, c) {
                mask[i] = 1;
                pixels += 1;
                let (r, c) = (r as usize, c as usize);
                bbox = [
                    bbox[0].min(r),
                    bbox[1].min(c),
                    bbox[2].max(r),
                    bbox[3].max(c),
                ];
            }
        }
    }
    if pixels == 0 {
        // Cannot happen with a centre inside the lung, but never leave a lesion without pixels.
        let (r, c) = (cr as usize, cc as usize);
        mask[r * s + c] = 1;
        pixels = 1;
        bbox = [r, c, r, c];
    }
    Lesion {
        side,
        zone,
        center,
        radius,
        contrast,
        bbox,
        pixels,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(size: usize) -> Synth2dConfig {
        Synth2dConfig {
            size,
            ..Synth2dConfig::default()
        }
    }

    #[test]
    fn deterministic_per_seed_and_index() {
        let c = cfg(96);
        let a = synthetic_cxr(&c, 5, 3).unwrap();
        assert_eq!(a, synthetic_cxr(&c, 5, 3).unwrap());
        assert_ne!(a.image, synthetic_cxr(&c, 5, 4).unwrap().image);
        assert_ne!(a.image, synthetic_cxr(&c, 6, 3).unwrap().image);
    }

    #[test]
    fn lesions_lie_in_their_named_lung_and_zone() {
        let c = cfg(128);
        let mut seen_sides = [0usize; 2];
        for index in 0..40 {
            let x = synthetic_cxr(&c, 11, index).unwrap();
            let n = x.lesions.len();
            assert!((1..=3).contains(&n), "{n} lesions");
            let s = x.size;
            // the mask is inside the lungs, and is exactly the lesions' pixels
            assert_eq!(
                x.mask.iter().filter(|&&m| m == 1).count(),
                x.lesions.iter().map(|l| l.pixels).sum::<usize>()
            );
            for (i, &m) in x.mask.iter().enumerate() {
                assert!(m <= 1);
                if m == 1 {
                    assert_ne!(
                        x.lungs[i], 0,
                        "image {index}: mask pixel {i} outside the lungs"
                    );
                }
            }
            for l in &x.lesions {
                let label = Synth2dSample::lung_label(l.side);
                let rows = x.zone_rows(l.side, l.zone);
                let [r0, c0, r1, c1] = l.bbox;
                assert!(
                    rows.contains(&r0) && rows.contains(&r1),
                    "{l:?} vs {rows:?}"
                );
                let mut count = 0;
                for r in r0..=r1 {
                    for c in c0..=c1 {
                        if x.mask[r * s + c] == 1 {
                            assert_eq!(x.lungs[r * s + c], label, "{l:?}");
                            assert_eq!(x.zone_of_row(l.side, r), Some(l.zone));
                            // radiological convention: the patient's left is the image's right
                            assert_eq!(c >= s / 2, l.side == Side::Left, "{l:?}");
                            count += 1;
                        }
                    }
                }
                assert_eq!(count, l.pixels, "{l:?}");
                assert!(l.pixels >= 10, "{l:?}");
                seen_sides[l.side.index()] += 1;
                // the lesion is visibly brighter than the rest of its lung
                let mean = |pick: &dyn Fn(usize) -> bool| {
                    let v: Vec<f64> = (0..s * s)
                        .filter(|&i| pick(i))
                        .map(|i| x.image[i] as f64)
                        .collect();
                    v.iter().sum::<f64>() / v.len() as f64
                };
                let inside = mean(&|i| {
                    x.mask[i] == 1
                        && x.lungs[i] == label
                        && x.zone_of_row(l.side, i / s) == Some(l.zone)
                });
                let around = mean(&|i| x.mask[i] == 0 && x.lungs[i] == label);
                assert!(inside > around + 15.0, "{l:?}: {inside} vs {around}");
            }
            // zones are distinct, and the lesions are in the text's order
            let mut keys: Vec<(Side, Zone)> = x.lesions.iter().map(|l| (l.side, l.zone)).collect();
            let sorted = {
                let mut k = keys.clone();
                k.sort();
                k
            };
            assert_eq!(keys, sorted);
            keys.dedup();
            assert_eq!(keys.len(), n);
        }
        assert!(seen_sides[0] > 5 && seen_sides[1] > 5, "{seen_sides:?}");
    }

    #[test]
    fn text_names_exactly_the_lesions() {
        let c = cfg(64);
        for index in 0..30 {
            let x = synthetic_cxr(&c, 2, index).unwrap();
            let n = x.lesions.len();
            let phrases: Vec<String> = x.lesions.iter().map(Lesion::phrase).collect();
            for p in &phrases {
                assert_eq!(x.text.matches(p.as_str()).count(), 1, "{p} in {}", x.text);
            }
            assert_eq!(x.text.matches(" lung").count(), n, "{}", x.text);
            let word = [
                "",
                "one infected area,",
                "two infected areas,",
                "three infected areas,",
            ][n];
            assert!(x.text.contains(word), "{}", x.text);
            let sides: std::collections::BTreeSet<Side> =
                x.lesions.iter().map(|l| l.side).collect();
            let lateral = if sides.len() == 2 {
                "Bilateral"
            } else {
                "Unilateral"
            };
            assert!(x.text.starts_with(lateral), "{}", x.text);
        }
    }

    #[test]
    fn descriptions_read_like_qata() {
        let l = |side, zone| Lesion {
            side,
            zone,
            center: (0.0, 0.0),
            radius: 1.0,
            contrast: 0.3,
            bbox: [0; 4],
            pixels: 1,
        };
        assert_eq!(
            describe_lesions(&[l(Side::Right, Zone::Middle)]),
            "Unilateral pulmonary infection, one infected area, middle right lung."
        );
        assert_eq!(
            describe_lesions(&[l(Side::Left, Zone::Upper), l(Side::Right, Zone::Lower)]),
            "Bilateral pulmonary infection, two infected areas, upper left lung and lower right lung."
        );
        assert_eq!(
            describe_lesions(&[
                l(Side::Left, Zone::Upper),
                l(Side::Left, Zone::Middle),
                l(Side::Left, Zone::Lower)
            ]),
            "Unilateral pulmonary infection, three infected areas, upper left lung, middle left lung and lower left lung."
        );
        assert_eq!(describe_lesions(&[]), "No pulmonary infection.");
    }

    #[test]
    fn anatomy_looks_like_a_radiograph() {
        let x = synthetic_cxr(&cfg(128), 1, 0).unwrap();
        let s = x.size;
        let mean = |pred: &dyn Fn(usize) -> bool| {
            let v: Vec<f64> = (0..s * s)
                .filter(|&i| pred(i))
                .map(|i| x.image[i] as f64)
                .collect();
            v.iter().sum::<f64>() / v.len() as f64
        };
        let lung = mean(&|i| x.lungs[i] != 0 && x.mask[i] == 0);
        let lesion = mean(&|i| x.mask[i] == 1);
        // the mediastinum: the central columns at mid height
        let centre =
            mean(&|i| (i % s).abs_diff(s / 2) < s / 20 && (i / s).abs_diff(s / 2) < s / 10);
        assert!(lung < 90.0, "lungs are dark: {lung}");
        assert!(
            centre > lung + 60.0,
            "mediastinum is bright: {centre} vs {lung}"
        );
        assert!(
            lesion > lung + 25.0,
            "lesions are opaque: {lesion} vs {lung}"
        );
        // the two lungs are left and right of the middle
        for side in Side::ALL {
            let label = Synth2dSample::lung_label(side);
            let cols: Vec<usize> = (0..s * s)
                .filter(|&i| x.lungs[i] == label)
                .map(|i| i % s)
                .collect();
            let mean_col = cols.iter().sum::<usize>() as f64 / cols.len() as f64;
            assert_eq!(mean_col > s as f64 / 2.0, side.on_image_right());
        }
    }

    #[test]
    fn configs_are_checked() {
        let bad = [
            Synth2dConfig {
                size: 16,
                ..Default::default()
            },
            Synth2dConfig {
                min_lesions: 3,
                max_lesions: 2,
                ..Default::default()
            },
            Synth2dConfig {
                max_lesions: 7,
                ..Default::default()
            },
            Synth2dConfig {
                min_radius: 0.0,
                ..Default::default()
            },
            Synth2dConfig {
                noise: f64::NAN,
                ..Default::default()
            },
        ];
        for c in bad {
            assert!(synthetic_cxr(&c, 0, 0).is_err(), "{c:?}");
        }
        let none = Synth2dConfig {
            size: 64,
            min_lesions: 0,
            max_lesions: 0,
            ..Default::default()
        };
        let x = synthetic_cxr(&none, 0, 0).unwrap();
        assert!(x.mask.iter().all(|&m| m == 0) && x.text == "No pulmonary infection.");
        let all = Synth2dConfig {
            size: 64,
            min_lesions: 6,
            max_lesions: 6,
            ..Default::default()
        };
        assert_eq!(synthetic_cxr(&all, 0, 0).unwrap().lesions.len(), 6);
    }

    #[test]
    fn split_indices_are_disjoint() {
        assert_eq!(synth2d_index(LvitSplit::Train, 3), 3);
        assert_ne!(
            synth2d_index(LvitSplit::Val, 0),
            synth2d_index(LvitSplit::Test, 0)
        );
        assert_eq!(synth2d_name(LvitSplit::Val, 7), "val_00007.png");
    }
}

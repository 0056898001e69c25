//! What is fuzzed: every reader of user bytes, each with seed inputs (the test fixtures and small
//! files made here) and its own structure-aware mutation. An input is a set of named files; the
//! readers that take a path get them written to a scratch folder.

use super::mutate;
use super::rng::Rng;
use burn::backend::Flex;
use semiseg::data::{bytes_dimensions, Image2d, LvitDataset, LvitSplit, Mask2d, MaskResize};
use semiseg::infer::{prepare_prompt, ModelBundle, ModelCard, Precision};
use semiseg::nets::VNetConfig;
use semiseg::text::TextTokenizer;
use semiseg::volume::ReadOptions;
use semiseg::volume::{read_nifti, read_nifti_bytes, read_nrrd, read_nrrd_bytes, read_scan};
use semiseg_cli::synth2d::{gray_png, text_table_xlsx};
use std::path::{Path, PathBuf};

/// An input: named files (a name may hold a folder part, e.g. `Train_Folder/img/a.png`).
#[derive(Clone, Debug)]
pub struct Input {
    pub files: Vec<(String, Vec<u8>)>,
}

impl Input {
    fn one(name: &str, bytes: Vec<u8>) -> Input {
        Input {
            files: vec![(name.to_string(), bytes)],
        }
    }

    /// Write the files under `dir` (emptied first).
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        if dir.exists() {
            std::fs::remove_dir_all(dir)?;
        }
        std::fs::create_dir_all(dir)?;
        for (name, bytes) in &self.files {
            let path = dir.join(name);
            std::fs::create_dir_all(path.parent().expect("a file in the folder"))?;
            std::fs::write(path, bytes)?;
        }
        Ok(())
    }
}

/// The readers fuzzed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    /// NIfTI-1/2 single files, plain and gzip, from bytes and from a path (and 4D first volume).
    Nifti,
    /// NIfTI `.hdr/.img` pairs.
    NiftiPair,
    /// NRRD with the data attached (raw, gzip, text).
    Nrrd,
    /// NRRD `.nhdr` with a detached data file.
    NrrdDetached,
    /// Model bundles (3D V-Net weights loaded; 2D cards checked).
    Bundle,
    /// 2D images and masks (PNG, JPEG, TIFF).
    Image2d,
    /// LViT dataset folders (text tables, images, masks).
    Lvit,
    /// Prompts typed into the page or `predict --prompt`.
    Prompt,
}

pub const KINDS: [Kind; 8] = [
    Kind::Nifti,
    Kind::NiftiPair,
    Kind::Nrrd,
    Kind::NrrdDetached,
    Kind::Bundle,
    Kind::Image2d,
    Kind::Lvit,
    Kind::Prompt,
];

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Nifti => "nifti",
            Kind::NiftiPair => "nifti-pair",
            Kind::Nrrd => "nrrd",
            Kind::NrrdDetached => "nrrd-detached",
            Kind::Bundle => "bundle",
            Kind::Image2d => "image2d",
            Kind::Lvit => "lvit",
            Kind::Prompt => "prompt",
        }
    }
}

/// Scans read while fuzzing are held to 2^22 voxels, so a reader that allocates what a header says
/// before checking it shows up as an abort under the memory limit.
const FUZZ_MAX_VOXELS: usize = 1 << 22;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// The shipped 2D model: its card (vocabulary, configuration) seeds the bundle and prompt inputs.
fn shipped_2d_bundle() -> Vec<u8> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../www/assets/models/synth-radiograph.semiseg");
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every kind's seed inputs, made once.
pub struct Seeds {
    by_kind: Vec<Vec<Input>>,
    prompt_model: (TextTokenizer, semiseg::amvlm::AmvlmConfig),
}

fn read(path: PathBuf) -> Vec<u8> {
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn tiny_vnet_bundle(precision: Precision) -> Vec<u8> {
    let net = VNetConfig::new()
        .with_n_filters(1)
        .init::<Flex>(&Default::default());
    let card = ModelCard {
        name: "fuzz seed".into(),
        architecture: "vnet".into(),
        n_filters: 1,
        n_classes: 2,
        sdm_head: true,
        patch: [16, 16, 16],
        stride: [16, 16, 16],
        precision,
        trained_on: "nothing".into(),
        method: "none".into(),
        steps: 0,
        weights: String::new(),
        metrics: None,
        notes: String::new(),
        semiseg_version: "fuzz".into(),
        weights_len: 0,
        weights_sha256: String::new(),
        image2d: None,
    };
    ModelBundle::new(&net, card).encode()
}

fn images() -> Vec<Input> {
    let mut out = vec![
        Input::one("a.png", read(fixtures().join("image2d/small_mask.png"))),
        Input::one(
            "b.png",
            gray_png((0..64).map(|v| v as u8 * 4).collect(), 8).unwrap(),
        ),
    ];
    let rgb = image::RgbImage::from_fn(8, 8, |x, y| image::Rgb([x as u8 * 30, y as u8 * 30, 99]));
    let gray16 = image::ImageBuffer::<image::Luma<u16>, _>::from_fn(8, 8, |x, y| {
        image::Luma([(x * y) as u16 * 900])
    });
    for (name, format) in [
        ("c.jpg", image::ImageFormat::Jpeg),
        ("d.tif", image::ImageFormat::Tiff),
        ("f.png", image::ImageFormat::Png),
    ] {
        let mut bytes = std::io::Cursor::new(Vec::new());
        rgb.write_to(&mut bytes, format).unwrap();
        out.push(Input::one(name, bytes.into_inner()));
    }
    let mut bytes = std::io::Cursor::new(Vec::new());
    gray16
        .write_to(&mut bytes, image::ImageFormat::Png)
        .unwrap();
    out.push(Input::one("g16.png", bytes.into_inner()));
    // DICOM (data/dicom.rs): explicit and implicit VR, RLE, JPEG, planar colour
    for name in [
        "MR_small.dcm",
        "MR_small_implicit.dcm",
        "MR_small_RLE.dcm",
        "SC_rgb_jpeg_dcmtk.dcm",
        "SC_rgb_planar.dcm",
    ] {
        out.push(Input::one(name, read(fixtures().join("dicom").join(name))));
    }
    out
}

fn lvit_folder() -> Input {
    let png = |v: u8| gray_png(vec![0, v, v, 0], 2).unwrap();
    let rows = vec![
        ("a.png".to_string(), "nuclei in the upper left".to_string()),
        ("b.png".to_string(), "two small cells".to_string()),
    ];
    Input {
        files: vec![
            ("Train_Folder/img/a.png".into(), png(200)),
            ("Train_Folder/img/b.png".into(), png(90)),
            ("Train_Folder/labelcol/a.png".into(), png(255)),
            ("Train_Folder/labelcol/b.png".into(), png(1)),
            (
                "Train_Folder/Train_text.xlsx".into(),
                text_table_xlsx(&rows).unwrap(),
            ),
        ],
    }
}

impl Seeds {
    pub fn new() -> Seeds {
        let nifti_dir = fixtures().join("nifti");
        let mut nifti = Vec::new();
        let mut names: Vec<String> = std::fs::read_dir(&nifti_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".nii") || n.ends_with(".nii.gz"))
            .collect();
        names.sort();
        for n in names {
            nifti.push(Input::one(&n, read(nifti_dir.join(&n))));
        }
        let pair = Input {
            files: vec![
                ("pair.hdr".into(), read(nifti_dir.join("pair_i16.hdr"))),
                ("pair.img".into(), read(nifti_dir.join("pair_i16.img"))),
            ],
        };
        let nrrd_dir = fixtures().join("nrrd");
        let nrrd = [
            "lps_u8_gzip.nrrd",
            "oblique_i16_be_raw.nrrd",
            "ras_f32_text.nrrd",
        ]
        .iter()
        .map(|n| Input::one(n, read(nrrd_dir.join(n))))
        .collect();
        let detached = Input {
            files: vec![
                (
                    "detached_u16.nhdr".into(),
                    read(nrrd_dir.join("detached_u16.nhdr")),
                ),
                (
                    "detached_u16.raw".into(),
                    read(nrrd_dir.join("detached_u16.raw")),
                ),
            ],
        };
        let shipped = shipped_2d_bundle();
        let card_end = shipped.len() - ModelBundle::decode(&shipped).unwrap().weights.len();
        let bundle = vec![
            Input::one("f16.semiseg", tiny_vnet_bundle(Precision::F16)),
            Input::one("f32.semiseg", tiny_vnet_bundle(Precision::F32)),
            // the 2D card without its weights: the card's checks are reached, the weights not
            Input::one("card2d.semiseg", shipped[..card_end].to_vec()),
        ];
        let b = ModelBundle::decode(&shipped).unwrap();
        let c = b.card.image2d.expect("a 2D card");
        let tok = TextTokenizer::from_vocab_text(&c.vocab, c.vlm.lowercase)
            .and_then(|t| t.with_max_len(c.vlm.max_text_len))
            .unwrap();
        let prompts = [
            "lower left lung",
            "opacity in the right upper zone",
            "",
            "ünïcödé 肺 \u{200b}",
            "a b c d e f g h i j k l m n o p q r s t u v w x y z",
        ]
        .iter()
        .map(|p| Input::one("prompt.txt", p.as_bytes().to_vec()))
        .collect();
        Seeds {
            by_kind: vec![
                nifti,
                vec![pair],
                nrrd,
                vec![detached],
                bundle,
                images(),
                vec![lvit_folder()],
                prompts,
            ],
            prompt_model: (tok, c.vlm),
        }
    }

    fn of(&self, kind: Kind) -> &[Input] {
        &self.by_kind[KINDS.iter().position(|&k| k == kind).unwrap()]
    }

    /// Input `index` of run `seed`: a seed of the kind `index` falls on, mutated.
    pub fn input(&self, seed: u64, index: u64) -> (Kind, Input) {
        let kind = KINDS[(index % KINDS.len() as u64) as usize];
        let mut rng = Rng::for_input(seed, index);
        let seeds = self.of(kind);
        let mut input = rng.pick(seeds).clone();
        let other = rng.pick(seeds).files[0].1.clone();
        mutate_input(kind, &mut rng, &mut input, &other);
        (kind, input)
    }

    /// Run the reader of `kind` on `input` (files written under `dir`): `Ok` if it was accepted,
    /// `Err(message)` if refused. A panic is the caller's to catch.
    pub fn run(&self, kind: Kind, input: &Input, dir: &Path) -> Result<(), String> {
        let opts = |first_volume_of_4d| ReadOptions {
            max_voxels: FUZZ_MAX_VOXELS,
            first_volume_of_4d,
        };
        let s = |e: &dyn std::fmt::Display| e.to_string();
        let (name, bytes) = &input.files[0];
        match kind {
            Kind::Nifti => {
                // the name says how it is read: from memory or from a file, 4D as an error or as
                // its first volume
                let four_d = name.contains("4d");
                if name.starts_with("mem") {
                    read_nifti_bytes(name, bytes, &opts(four_d))
                        .map(drop)
                        .map_err(|e| s(&e))
                } else {
                    input.write(dir).map_err(|e| s(&e))?;
                    read_scan(dir.join(name), &opts(four_d))
                        .map(drop)
                        .map_err(|e| s(&e))
                }
            }
            Kind::NiftiPair => {
                input.write(dir).map_err(|e| s(&e))?;
                read_nifti(dir.join("pair.hdr"), &opts(false))
                    .map(drop)
                    .map_err(|e| s(&e))
            }
            Kind::Nrrd => read_nrrd_bytes(name, bytes, &opts(false))
                .map(drop)
                .map_err(|e| s(&e)),
            Kind::NrrdDetached => {
                input.write(dir).map_err(|e| s(&e))?;
                read_nrrd(dir.join(name), &opts(false))
                    .map(drop)
                    .map_err(|e| s(&e))
            }
            Kind::Bundle => {
                let b = ModelBundle::decode(bytes).map_err(|e| s(&e))?;
                if b.is_2d() {
                    b.load_text_guided::<Flex>(&Default::default())
                        .map(drop)
                        .map_err(|e| s(&e))
                } else {
                    b.load_vnet::<Flex>(&Default::default())
                        .map(drop)
                        .map_err(|e| s(&e))
                }
            }
            Kind::Image2d => {
                let mask = Mask2d::from_bytes(bytes, name, 8, MaskResize::Nearest)
                    .map(drop)
                    .map_err(|e| s(&e));
                let size = bytes_dimensions(bytes, name).map(drop).map_err(|e| s(&e));
                Image2d::from_bytes(bytes, name, 8)
                    .map(drop)
                    .map_err(|e| s(&e))
                    .and(mask)
                    .and(size)
            }
            Kind::Lvit => {
                input.write(dir).map_err(|e| s(&e))?;
                let ds = LvitDataset::open(dir).map_err(|e| s(&e))?;
                for sample in ds.split(LvitSplit::Train) {
                    Image2d::read(&sample.image, 8).map_err(|e| s(&e))?;
                    if let Some(m) = &sample.mask {
                        Mask2d::read(m, 8, MaskResize::Nearest).map_err(|e| s(&e))?;
                    }
                }
                Ok(())
            }
            Kind::Prompt => {
                let text = String::from_utf8_lossy(bytes);
                let (tok, cfg) = &self.prompt_model;
                prepare_prompt(&text, tok, cfg).map(drop).map_err(|e| s(&e))
            }
        }
    }
}

/// Mutate `input` as suits its kind (`other`: the first file of another seed of the kind, for
/// splices).
fn mutate_input(kind: Kind, rng: &mut Rng, input: &mut Input, other: &[u8]) {
    let gz_aware = |rng: &mut Rng, data: &mut Vec<u8>, focus: Option<std::ops::Range<usize>>| {
        if data.starts_with(&[0x1f, 0x8b]) && rng.chance(0.6) {
            if let Some(mut plain) = mutate::gunzip(data) {
                mutate::bytes(rng, &mut plain, focus, other);
                *data = mutate::gzip(&plain);
                return;
            }
        }
        mutate::bytes(rng, data, focus, other);
    };
    match kind {
        Kind::Nifti => {
            let (name, data) = &mut input.files[0];
            // header fields get most mutations (NIfTI-1: 348 bytes, NIfTI-2: 540)
            gz_aware(rng, data, Some(0..540));
            let how = rng.below(4);
            let base = name.clone();
            *name = match how {
                0 => format!("mem-{base}"),
                1 => format!("mem-4d-{base}"),
                2 => format!("4d-{base}"),
                _ => base,
            };
        }
        Kind::NiftiPair => {
            let which = usize::from(rng.chance(0.3));
            let data = &mut input.files[which].1;
            let focus = (which == 0).then_some(0..348);
            mutate::bytes(rng, data, focus, other);
            if rng.chance(0.1) {
                // a gzipped member of the pair
                let (name, data) = &mut input.files[which];
                *data = mutate::gzip(data);
                name.push_str(".gz");
            }
        }
        Kind::Nrrd => {
            let data = &mut input.files[0].1;
            let header_end = data
                .windows(2)
                .position(|w| w == b"\n\n")
                .map(|p| p + 1)
                .unwrap_or(data.len());
            match rng.below(10) {
                0..=4 => mutate::text_lines(rng, data, header_end),
                5..=6 => mutate::bytes(rng, data, Some(0..header_end), other),
                _ => {
                    let mut payload = data.split_off(header_end + 1.min(data.len() - header_end));
                    gz_aware(rng, &mut payload, None);
                    data.extend(payload);
                }
            }
        }
        Kind::NrrdDetached => {
            if rng.chance(0.7) {
                let data = &mut input.files[0].1;
                let end = data.len();
                mutate::text_lines(rng, data, end);
            } else {
                mutate::bytes(rng, &mut input.files[1].1, None, other);
            }
        }
        Kind::Bundle => {
            let data = &mut input.files[0].1;
            // format 2: the card's SHA-256 (32 bytes) comes before the card
            let card_len = u32::from_le_bytes(data[12..16].try_into().unwrap()) as usize;
            let card_start = 48.min(data.len());
            let card_end = (card_start + card_len).min(data.len());
            let mut card = data[card_start..card_end].to_vec();
            let mut weights = data[card_end..].to_vec();
            match rng.below(10) {
                0..=4 => mutate::text_lines(rng, &mut card, card_len),
                5..=7 => mutate::bytes(rng, &mut weights, None, &[]),
                _ => {
                    // anywhere, the structure as it falls
                    mutate::bytes(rng, data, Some(0..16), other);
                    return;
                }
            }
            // mostly, keep the card and hashes consistent with the mutated parts, so the checks
            // past them (card ranges, weight decoding) are reached
            let card_value: Option<ModelCard> = serde_json::from_slice(&card).ok();
            match card_value {
                Some(mut c) if rng.chance(0.8) => {
                    if !weights.is_empty() || c.image2d.is_none() {
                        c.weights_len = weights.len();
                        c.weights_sha256 = sha256_hex(&weights);
                    }
                    let b = ModelBundle { card: c, weights };
                    *data = b.encode();
                }
                _ => {
                    // the card's length field kept true, its hash as it was (stale if edited)
                    let mut out = data[..12].to_vec();
                    out.extend((card.len() as u32).to_le_bytes());
                    out.extend(&data[16..card_start]);
                    out.extend(card);
                    out.extend(weights);
                    *data = out;
                }
            }
        }
        Kind::Image2d => {
            let (name, data) = &mut input.files[0];
            // a DICOM's header follows its 128-byte preamble
            let head = if name.ends_with(".dcm") {
                128..data.len().min(1200)
            } else {
                0..64
            };
            mutate::bytes(rng, data, Some(head), other);
        }
        Kind::Lvit => match rng.below(10) {
            0..=2 => {
                let xlsx = &mut input.files[4].1;
                mutate::bytes(rng, xlsx, None, &[]);
            }
            3..=5 => {
                // the table's cells: names and texts replaced, repeated or emptied
                let mut rows = vec![
                    ("a.png".to_string(), "nuclei in the upper left".to_string()),
                    ("b.png".to_string(), "two small cells".to_string()),
                ];
                for _ in 0..1 + rng.below(3) {
                    let r = rng.below(rows.len());
                    let cell = [
                        "",
                        " ",
                        "a.png",
                        "b.png",
                        "c.png",
                        "A.PNG",
                        "a",
                        "mask_a.png",
                        "../a.png",
                        "img/a.png",
                        "\u{0}",
                        "long text ",
                        "é",
                    ];
                    let v = rng.pick(&cell).repeat(1 + rng.below(3));
                    match rng.below(4) {
                        0 => rows[r].0 = v,
                        1 => rows[r].1 = v,
                        2 => rows.push(rows[r].clone()),
                        _ => {
                            rows.remove(r);
                            if rows.is_empty() {
                                rows.push((v.clone(), v));
                            }
                        }
                    }
                }
                input.files[4].1 = text_table_xlsx(&rows).unwrap_or_default();
            }
            6..=8 => {
                let f = rng.below(4);
                let other_png = input.files[(f + 1) % 4].1.clone();
                mutate::bytes(rng, &mut input.files[f].1, Some(0..64), &other_png);
            }
            _ => {
                let f = rng.below(input.files.len());
                if rng.chance(0.5) {
                    input.files.remove(f);
                } else {
                    input.files[f].0.push_str(".old");
                }
            }
        },
        Kind::Prompt => {
            let data = &mut input.files[0].1;
            mutate::bytes(rng, data, None, other);
            if rng.chance(0.05) {
                let copy = data.clone();
                for _ in 0..1 + rng.below(200) {
                    data.extend_from_slice(&copy);
                }
            }
        }
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

//! Everything a run needs before its first step: the data folder's pairs, the tokenizer (a given
//! `vocab.txt`, a BERT checkpoint's, or one trained on the training texts) and an optional BERT
//! checkpoint to start the text encoder from.

use super::data::{model_text, read_regions, PairData};
use anyhow::Context;
use semiseg::amvlm::AmvlmConfig;
use semiseg::data::{LvitDataset, LvitSample, LvitSplit};
use semiseg::nets::{BertConfig, SafetensorsReader};
use semiseg::text::TextTokenizer;
use std::path::{Path, PathBuf};

/// A BERT checkpoint folder in the Hugging Face layout: `config.json`, `vocab.txt`,
/// `model.safetensors` (e.g. `data/models/all-minilm-l6-v2` from `scripts/fetch_minilm.sh`).
pub struct TextInit {
    pub dir: PathBuf,
    pub config: BertConfig,
    pub lowercase: bool,
}

impl TextInit {
    pub fn open(dir: &Path) -> anyhow::Result<TextInit> {
        let need = |f: &str| {
            let p = dir.join(f);
            if p.exists() {
                Ok(p)
            } else {
                anyhow::bail!("{}: a BERT checkpoint folder needs {f} (config.json, vocab.txt and model.safetensors, as Hugging Face writes them)", dir.display())
            }
        };
        let text = std::fs::read_to_string(need("config.json")?)?;
        let config = BertConfig::from_hf_config_json(&text)
            .with_context(|| format!("{}/config.json", dir.display()))?;
        need("vocab.txt")?;
        need("model.safetensors")?;
        // HF's BertTokenizer lower-cases unless the tokenizer config says otherwise (spec C).
        let lowercase = std::fs::read_to_string(dir.join("tokenizer_config.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v["do_lower_case"].as_bool())
            .unwrap_or(true);
        Ok(TextInit {
            dir: dir.to_path_buf(),
            config,
            lowercase,
        })
    }

    /// Make the run's text encoder match the checkpoint's shape.
    pub fn apply(&self, cfg: &mut AmvlmConfig) {
        cfg.text_width = self.config.hidden_size;
        cfg.text_layers = self.config.num_layers;
        cfg.text_heads = self.config.num_heads;
        cfg.text_intermediate = self.config.intermediate_size;
        cfg.lowercase = self.lowercase;
    }

    pub fn tokenizer(&self, cfg: &AmvlmConfig) -> anyhow::Result<TextTokenizer> {
        Ok(
            TextTokenizer::from_vocab_file(self.dir.join("vocab.txt"), self.lowercase)?
                .with_max_len(cfg.max_text_len)?,
        )
    }

    pub fn weights(&self) -> anyhow::Result<Vec<u8>> {
        let p = self.dir.join("model.safetensors");
        std::fs::read(&p).with_context(|| format!("reading {}", p.display()))
    }
}

/// A ViT/DeiT checkpoint in timm naming to start the image encoder from (spec A2: DeiT-B/16):
/// a folder with `model.safetensors` (timm's Hugging Face layout) or the file itself. The ViT's
/// width, patch size, MLP width and image size are read from its tensors; the run keeps the
/// configured depth (the first blocks, at most the checkpoint's) and heads.
pub struct ImageInit {
    /// The safetensors file.
    pub file: PathBuf,
    pub width: usize,
    pub patch: usize,
    pub mlp: usize,
    pub image_size: usize,
    pub blocks: usize,
}

impl ImageInit {
    pub fn open(path: &Path) -> anyhow::Result<ImageInit> {
        let file = if path.is_dir() {
            path.join("model.safetensors")
        } else {
            path.to_path_buf()
        };
        let bytes = std::fs::read(&file).with_context(|| {
            format!(
                "--image-init {}: cannot read {} (a timm ViT/DeiT checkpoint: model.safetensors)",
                path.display(),
                file.display()
            )
        })?;
        let r = SafetensorsReader::from_bytes(&bytes)
            .with_context(|| format!("{}: not a safetensors file", file.display()))?;
        let p = r.prefix_of("patch_embed.proj.weight").with_context(|| {
            format!(
                "{}: not a timm ViT/DeiT checkpoint (no patch_embed.proj.weight; it has e.g. {})",
                file.display(),
                r.example_names()
            )
        })?;
        let shape = |n: &str| r.shape(&format!("{p}{n}"));
        let patch_w = shape("patch_embed.proj.weight")?; // (W, 3, p, p)
        let pos = shape("pos_embed")?; // (1, N + 1, W)
        let fc1 = shape("blocks.0.mlp.fc1.weight")?; // (MLP, W)
        let blocks = (0..)
            .take_while(|i| r.contains(&format!("{p}blocks.{i}.norm1.weight")))
            .count();
        let grid = ((pos[1].saturating_sub(1)) as f64).sqrt().round() as usize;
        if patch_w.len() != 4 || grid * grid + 1 != pos[1] {
            anyhow::bail!(
                "{}: patch embedding {patch_w:?} / position embedding {pos:?} are not a square ViT's",
                file.display()
            );
        }
        Ok(ImageInit {
            file,
            width: patch_w[0],
            patch: patch_w[2],
            mlp: fc1[0],
            image_size: grid * patch_w[2],
            blocks,
        })
    }

    /// Make the run's image encoder match the checkpoint's shape (depth: the configured number
    /// of first blocks, which the checkpoint must have).
    pub fn apply(&self, cfg: &mut AmvlmConfig) -> anyhow::Result<()> {
        if cfg.vit_depth > self.blocks {
            anyhow::bail!(
                "--image-init {}: {} blocks, the configuration asks for {}; set vit_depth to at most {}",
                self.file.display(),
                self.blocks,
                cfg.vit_depth,
                self.blocks
            );
        }
        cfg.vit_width = self.width;
        cfg.patch_size = self.patch;
        cfg.vit_mlp = self.mlp;
        cfg.image_size = self.image_size;
        Ok(())
    }

    pub fn weights(&self) -> anyhow::Result<Vec<u8>> {
        std::fs::read(&self.file).with_context(|| format!("reading {}", self.file.display()))
    }
}

/// The pairs a pre-training run uses.
pub struct Pairs {
    pub train: Vec<LvitSample>,
    pub held_out: Vec<LvitSample>,
    pub held_out_split: Option<LvitSplit>,
    pub root: PathBuf,
}

impl Pairs {
    /// Training pairs from `Train_Folder` (and `Train_all` when present, AMVLM's pre-training
    /// folder); held-out pairs from `Val_Folder`, else `Test_Folder`.
    pub fn open(root: &Path) -> anyhow::Result<Pairs> {
        let ds = LvitDataset::open(root)?;
        let mut train = ds.split(LvitSplit::Train).to_vec();
        if ds.has(LvitSplit::TrainAll) {
            train = ds.split(LvitSplit::TrainAll).to_vec();
        }
        if train.len() < 2 {
            anyhow::bail!(
                "{}: pre-training needs at least 2 training pairs, found {}",
                root.display(),
                train.len()
            );
        }
        let held = [LvitSplit::Val, LvitSplit::Test]
            .into_iter()
            .find(|s| ds.has(*s) && !ds.split(*s).is_empty());
        Ok(Pairs {
            train,
            held_out: held.map(|s| ds.split(s).to_vec()).unwrap_or_default(),
            held_out_split: held,
            root: root.to_path_buf(),
        })
    }

    /// Load the held-out pairs (with lesion positions when the folder has them).
    pub fn held_out_data(
        &self,
        cfg: &AmvlmConfig,
        tok: &TextTokenizer,
    ) -> anyhow::Result<Option<PairData>> {
        let Some(split) = self.held_out_split else {
            return Ok(None);
        };
        if self.held_out.len() < 2 {
            return Ok(None);
        }
        let mut d = PairData::load(&self.held_out, cfg, tok)?;
        d.regions = read_regions(
            &self.root.join(split.folder()),
            &self.held_out,
            cfg.image_size,
        )?;
        Ok(Some(d))
    }

    /// The texts a vocabulary is trained on (as the model reads them).
    pub fn training_texts(&self, cfg: &AmvlmConfig) -> Vec<String> {
        self.train
            .iter()
            .map(|s| model_text(&s.text, cfg))
            .collect()
    }
}

/// Train a WordPiece vocabulary on the training texts.
pub fn train_tokenizer(pairs: &Pairs, cfg: &AmvlmConfig) -> anyhow::Result<TextTokenizer> {
    let texts = pairs.training_texts(cfg);
    Ok(TextTokenizer::train(&texts, cfg.vocab_size, cfg.lowercase)?
        .with_max_len(cfg.max_text_len)?)
}

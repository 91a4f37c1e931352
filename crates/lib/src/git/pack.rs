//! Git objects hashed in memory and written as one pack.
//!
//! Writing a fleet's backup object by object makes a loose file per object (hundreds of
//! thousands of files, most of the run spent in the kernel). Here a tenant's files become blob
//! and tree objects in memory: their IDs are computed without touching the repository, so a
//! tenant whose tree did not change costs a hash and nothing else; the objects of the tenants
//! that did change are compressed by the worker threads and written at the end as one pack
//! (format version 2, no deltas), which libgit2 indexes.

use std::collections::HashSet;
use std::io::Write;

use git2::{ObjectType, Oid, Repository};
use sha1::{Digest, Sha1};

use crate::diagnostic::{Diagnostic, Doing, Result};

/// A git object ready for a pack: its ID, type, size and zlib-compressed content.
#[derive(Debug, Clone)]
pub(crate) struct Object {
    pub id: Oid,
    kind: ObjectType,
    size: usize,
    compressed: Vec<u8>,
}

impl Object {
    /// The object `id` of `kind` holding `data`, compressed for a pack.
    fn compress(id: Oid, kind: ObjectType, data: &[u8]) -> Result<Object> {
        let compressed = if data.len() < STORE_BELOW {
            stored(data)
        } else {
            let mut z = flate2::write::ZlibEncoder::new(
                Vec::with_capacity(data.len() / 3 + 16),
                flate2::Compression::fast(),
            );
            z.write_all(data)?;
            z.finish()?
        };
        Ok(Object {
            id,
            kind,
            size: data.len(),
            compressed,
        })
    }
}

/// Objects smaller than this are stored in their zlib stream rather than compressed: starting
/// a compressor clears a quarter of a megabyte of tables, which for a file of a few hundred
/// bytes costs more than everything else (`git gc` compresses them later if wanted).
const STORE_BELOW: usize = 512;

/// `data` as a zlib stream of stored (uncompressed) deflate blocks.
fn stored(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 16);
    out.extend_from_slice(&[0x78, 0x01]);
    let mut chunks = data.chunks(0xFFFF).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xFF, 0xFF]);
    }
    while let Some(chunk) = chunks.next() {
        out.push(u8::from(chunks.peek().is_none()));
        // A chunk is at most 0xFFFF bytes long: the cast keeps every bit.
        let len = chunk.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    out.extend_from_slice(&adler32(data).to_be_bytes());
    out
}

fn adler32(data: &[u8]) -> u32 {
    const MOD: u32 = 65521;
    let (mut a, mut b) = (1u32, 0u32);
    // 5552 bytes is the most that can be summed before the sums could overflow 32 bits.
    for block in data.chunks(5552) {
        for &byte in block {
            a += u32::from(byte);
            b += a;
        }
        a %= MOD;
        b %= MOD;
    }
    (b << 16) | a
}

/// A tree of files hashed in memory: the root tree's ID, each file's blob ID (in the order of
/// the files), and each tree's content, so that its objects can be made without hashing again
/// (only when needed: a tree the repository already has needs none).
pub(crate) struct Hashed {
    pub root: Oid,
    pub blobs: Vec<(String, Oid)>,
    trees: Vec<(Oid, Vec<u8>)>,
}

impl Hashed {
    /// The objects of the tree hashed from `files` (the same files), compressed for a pack.
    pub(crate) fn objects(&self, files: &[(String, String)]) -> Result<Vec<Object>> {
        let blobs = files
            .iter()
            .zip(&self.blobs)
            .map(|((_, text), (_, id))| Object::compress(*id, ObjectType::Blob, text.as_bytes()));
        let trees = self
            .trees
            .iter()
            .map(|(id, data)| Object::compress(*id, ObjectType::Tree, data));
        blobs.chain(trees).collect()
    }
}

/// Hashes `files` (`/`-separated relative paths) into blobs and nested trees, without writing.
pub(crate) fn hash_files(files: &[(String, String)]) -> Result<Hashed> {
    let mut entries: Vec<(Vec<&str>, Oid)> = Vec::with_capacity(files.len());
    let mut blobs = Vec::with_capacity(files.len());
    for (path, text) in files {
        let parts: Vec<&str> = path.split('/').collect();
        if parts
            .iter()
            .any(|p| p.is_empty() || *p == "." || *p == "..")
        {
            return Err(Diagnostic::new(format!(
                "`{path}` is not a path inside a tree"
            )));
        }
        let id = object_id(ObjectType::Blob, text.as_bytes())?;
        blobs.push((path.clone(), id));
        entries.push((parts, id));
    }
    entries.sort();
    let mut trees = Vec::new();
    let root = level(&entries, 0, &mut trees)?;
    Ok(Hashed { root, blobs, trees })
}

/// Hashes `files` and returns their objects too, compressed for a pack.
#[cfg(test)]
pub(crate) fn objects_of(files: &[(String, String)]) -> Result<(Hashed, Vec<Object>)> {
    let hashed = hash_files(files)?;
    let objects = hashed.objects(files)?;
    Ok((hashed, objects))
}

/// Hashes the tree of `entries` (sorted paths, split) at `depth`, and the trees below it, into
/// `trees`; returns its ID.
fn level(
    entries: &[(Vec<&str>, Oid)],
    depth: usize,
    trees: &mut Vec<(Oid, Vec<u8>)>,
) -> Result<Oid> {
    // (name, is a tree, id)
    let mut items: Vec<(&str, bool, Oid)> = Vec::new();
    let mut i = 0;
    while i < entries.len() {
        let name = entries[i].0[depth];
        if entries[i].0.len() == depth + 1 {
            items.push((name, false, entries[i].1));
            i += 1;
            continue;
        }
        let end = entries[i..]
            .iter()
            .position(|(parts, _)| parts.len() == depth + 1 || parts[depth] != name)
            .map_or(entries.len(), |n| i + n);
        items.push((name, true, level(&entries[i..end], depth + 1, trees)?));
        i = end;
    }
    // Git orders tree entries by name, a tree's name compared as if it ended in '/'.
    items.sort_by_key(|a| sort_key(a.0, a.1));
    if let Some(w) = items.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(Diagnostic::new(format!(
            "`{}` is both a file and a directory",
            w[0].0
        )));
    }
    let mut data = Vec::new();
    for (name, is_tree, id) in items {
        data.extend_from_slice(if is_tree { b"40000 " } else { b"100644 " });
        data.extend_from_slice(name.as_bytes());
        data.push(0);
        data.extend_from_slice(id.as_bytes());
    }
    let id = object_id(ObjectType::Tree, &data)?;
    trees.push((id, data));
    Ok(id)
}

/// The ID git gives an object: SHA-1 of `<type> <size>\0<data>` (the plain SHA-1: libgit2's
/// collision-detecting one costs several times as much, and these are our own bytes).
fn object_id(kind: ObjectType, data: &[u8]) -> Result<Oid> {
    let mut hasher = Sha1::new();
    hasher.update(format!("{} {}\0", kind.str(), data.len()).as_bytes());
    hasher.update(data);
    Ok(Oid::from_bytes(&hasher.finalize())?)
}

fn sort_key(name: &str, is_tree: bool) -> Vec<u8> {
    let mut k = name.as_bytes().to_vec();
    if is_tree {
        k.push(b'/');
    }
    k
}

/// Objects gathered for packs, each once. Add objects as they come and [`flush`] whenever
/// [`size`] grows past what should stay in memory: each flush writes one pack.
///
/// [`flush`]: PackBuilder::flush
/// [`size`]: PackBuilder::size
#[derive(Default)]
pub(crate) struct PackBuilder {
    seen: HashSet<Oid>,
    objects: Vec<Object>,
    size: usize,
    written: usize,
}

impl PackBuilder {
    /// Adds `objects`, skipping those already added.
    pub(crate) fn add(&mut self, objects: Vec<Object>) {
        for o in objects {
            if self.seen.insert(o.id) {
                self.size += o.compressed.len();
                self.objects.push(o);
            }
        }
    }

    /// Bytes of compressed objects waiting to be written.
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// How many objects were written to packs so far.
    pub(crate) fn written(&self) -> usize {
        self.written
    }

    /// Writes the waiting objects as one pack (indexed by libgit2), streamed: the pack is never
    /// whole in memory. Whether the repository has an object already is not asked (for a
    /// missing object libgit2 rescans the pack directory, which for a fleet's objects costs
    /// more than the writing): callers leave out what they know is there, and an object in
    /// two packs is harmless.
    pub(crate) fn flush(&mut self, repo: &Repository) -> Result<()> {
        let new = std::mem::take(&mut self.objects);
        self.size = 0;
        let odb = repo.odb()?;
        if new.is_empty() {
            return Ok(());
        }
        let mut writer = odb
            .packwriter()
            .doing(|| "cannot write a pack".to_owned())?;
        let mut hasher = Sha1::new();
        let mut put = |bytes: &[u8]| -> Result<()> {
            hasher.update(bytes);
            writer
                .write_all(bytes)
                .doing(|| "cannot write a pack".to_owned())
        };
        let count =
            u32::try_from(new.len()).doing(|| "too many objects for one pack".to_owned())?;
        put(b"PACK")?;
        put(&2u32.to_be_bytes())?;
        put(&count.to_be_bytes())?;
        let mut head = Vec::with_capacity(10);
        for o in &new {
            head.clear();
            header(&mut head, o.kind, o.size);
            put(&head)?;
            put(&o.compressed)?;
        }
        let trailer = hasher.finalize();
        writer
            .write_all(&trailer)
            .doing(|| "cannot write a pack".to_owned())?;
        writer
            .commit()
            .doing(|| "cannot index the pack".to_owned())?;
        self.written += new.len();
        Ok(())
    }
}

/// A pack object header: type and size, 4 bits of size in the first byte, 7 in the others.
fn header(out: &mut Vec<u8>, kind: ObjectType, size: usize) {
    let code: u8 = match kind {
        ObjectType::Commit => 1,
        ObjectType::Tree => 2,
        ObjectType::Blob => 3,
        _ => 4,
    };
    let mut size = size;
    let mut byte = (code << 4) | (size & 0x0f) as u8;
    size >>= 4;
    while size > 0 {
        out.push(byte | 0x80);
        byte = (size & 0x7f) as u8;
        size >>= 7;
    }
    out.push(byte);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference: the tree libgit2 itself makes of `files`, through an in-memory index
    /// (its own nesting and ordering, none of ours).
    fn tree_of_files(repo: &Repository, files: &[(String, String)]) -> Result<Oid> {
        let mut index = git2::Index::new()?;
        for (path, text) in files {
            let entry = git2::IndexEntry {
                ctime: git2::IndexTime::new(0, 0),
                mtime: git2::IndexTime::new(0, 0),
                dev: 0,
                ino: 0,
                mode: 0o100644,
                uid: 0,
                gid: 0,
                file_size: 0,
                id: repo.blob(text.as_bytes())?,
                flags: 0,
                flags_extended: 0,
                path: path.as_bytes().to_vec(),
            };
            index.add(&entry)?;
        }
        Ok(index.write_tree_to(repo)?)
    }

    fn files() -> Vec<(String, String)> {
        vec![
            ("b/c/d.yaml".into(), "d\n".into()),
            ("a.yaml".into(), "a\n".into()),
            ("b.yaml".into(), "sorts before b/ in git".into()),
            ("b/e.yaml".into(), "e\n".repeat(100)),
        ]
    }

    #[test]
    fn hashes_as_git_writes_and_the_pack_is_readable() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        assert_eq!(
            object_id(ObjectType::Blob, b"a\n").unwrap(),
            Oid::hash_object(ObjectType::Blob, b"a\n").unwrap()
        );
        // The same tree written by libgit2, object by object.
        let written = tree_of_files(&repo, &files()).unwrap();
        assert_eq!(hash_files(&files()).unwrap().root, written);
        assert!(hash_files(&[("../x".into(), String::new())]).is_err());

        let other = tempfile::tempdir().unwrap();
        let fresh = Repository::init(other.path()).unwrap();
        let (hashed, objects) = objects_of(&files()).unwrap();
        assert_eq!(hashed.root, written);
        let mut pack = PackBuilder::default();
        pack.add(objects.clone());
        pack.add(objects);
        pack.flush(&fresh).unwrap();
        assert_eq!(pack.written(), 7);
        let tree = fresh.find_tree(hashed.root).unwrap();
        let blob = tree
            .get_path(std::path::Path::new("b/e.yaml"))
            .unwrap()
            .to_object(&fresh)
            .unwrap();
        assert_eq!(
            blob.as_blob().unwrap().content(),
            "e\n".repeat(100).as_bytes()
        );
        // Written again: harmless, still readable.
        let mut again = PackBuilder::default();
        again.add(objects_of(&files()).unwrap().1);
        again.flush(&fresh).unwrap();
        assert!(fresh.find_tree(hashed.root).is_ok());
    }

    #[test]
    fn stored_streams_are_zlib() {
        use std::io::Read;
        for len in [0usize, 1, 100, 0xFFFF, 0x1_0000, 200_000] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            let mut back = Vec::new();
            flate2::read::ZlibDecoder::new(&stored(&data)[..])
                .read_to_end(&mut back)
                .unwrap();
            assert_eq!(back, data, "{len}");
        }
    }

    #[test]
    fn large_sizes_take_several_header_bytes() {
        let mut out = Vec::new();
        header(&mut out, ObjectType::Blob, 100_000);
        assert_eq!(out, [0xB0, 0xEA, 0x30]);
    }
}

"""Build a real-audio corpus (22.05 kHz mono) from Debian packages only.

Needs: apt-get (after `apt-get update`), dpkg-deb, Python packages soundfile, numpy, scipy.
Downloads about 410 MB of Debian packages into the cache; takes a minute or two.

    python -m scripts.build_train_corpus --out corpus [--cache .audio_cache] [--format wav|flac] [--only SRC ...]

Writes OUT/train/<category>/*.wav (about 72 min, 1155 clips), OUT/manifest.csv and OUT/SOURCES.md.
Licences are per source (GPL-2, GPL-3+, MIT, CC0, CC-BY...): use the corpus for training, do not commit it.
Selection is deterministic (sorted file lists + fixed seed).
"""

import argparse
import csv
import glob
import hashlib
import os
import random
import struct
import subprocess
import sys
from math import gcd

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

SR = 22050
# name: (split, category, debian package, globs relative to the extracted package root, license,
#        kind, cap_minutes, max_seconds_per_file, exclude substrings)
SOURCES = {
    # ---------------- training ----------------
    "fillets_cs_speech": (
        "train",
        "speech",
        "fillets-ng-data-cs",
        ["usr/share/games/fillets-ng/sound/**/cs/*.ogg"],
        "GPL-2",
        "real recorded speech, Czech; 2 main voices (~37 min each in the full set, per file-name codes) + minor characters",
        25,
        20,
        [],
    ),
    "colobot_music": (
        "train",
        "music",
        "colobot-common-sounds",
        ["usr/share/games/colobot/music/*.ogg"],
        "GPL-3+",
        "produced game music",
        12,
        40,
        [],
    ),
    "sectoid_stems": (
        "train",
        "music",
        "fretsonfire-songs-sectoid",
        ["usr/share/games/fretsonfire/data/songs/*/*/*.ogg"],
        "Expat (MIT)",
        "recorded rock/metal stems: song.ogg=backing band, guitar.ogg=lead guitar",
        10,
        75,
        [],
    ),
    "hydrogen_kits": (
        "train",
        "drums",
        "hydrogen-drumkits",
        [
            "usr/share/hydrogen/data/drumkits/**/*.wav",
            "usr/share/hydrogen/data/drumkits/**/*.flac",
            "usr/share/hydrogen/data/drumkits/**/*.aif*",
        ],
        "per kit: GPL-2/GPL-2+/CC-BY-3.0/CC-BY-SA-3.0/CC0 (see debian/copyright)",
        "recorded drum/percussion one-shots (some electronic kits)",
        8,
        10,
        ["The Black Pearl"],
    ),  # same recordings as the held-out AVL Black Pearl kit
    "sonicpi_samples": (
        "train",
        "drums",
        "sonic-pi-samples",
        ["usr/share/sonic-pi/samples/*.flac"],
        "CC0-1.0",
        "freesound recordings: drums, tabla, loops, guitar, bass, ambience",
        6,
        15,
        [],
    ),
    "ufoai_ambience": (
        "train",
        "ambience",
        "ufoai-sound",
        [
            "sound/ambience/*.ogg",
            "sound/footsteps/*.ogg",
            "sound/doors/*.ogg",
            "sound/impact/*.ogg",
            "sound/weapons/*.ogg",
            "sound/misc/*.ogg",
        ],
        "GPL-2+ (a few files CC-BY-3.0 / CC-BY-SA-3.0 / public domain)",
        "ambience + foley/SFX (wind, thunder, fire, water, city, footsteps; some designed sci-fi sounds)",
        10,
        30,
        [],
    ),
    "colobot_sfx": (
        "train",
        "ambience",
        "colobot-common-sounds",
        ["usr/share/games/colobot/sounds/*.wav"],
        "GPL-3+",
        "game sound effects",
        2,
        15,
        [],
    ),
}


def sh(*cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def fetch(pkg, cache):
    """apt-get download + dpkg-deb -x; returns extracted root."""
    root = os.path.join(cache, "ex", pkg)
    if os.path.isdir(root):
        return root
    debs = os.path.join(cache, "debs")
    os.makedirs(debs, exist_ok=True)
    if not glob.glob(os.path.join(debs, pkg + "_*.deb")):
        sh("apt-get", "download", "-q", pkg, cwd=debs)
    deb = sorted(glob.glob(os.path.join(debs, pkg + "_*.deb")))[-1]
    os.makedirs(root + ".tmp", exist_ok=True)
    sh("dpkg-deb", "-x", deb, root + ".tmp")
    os.rename(root + ".tmp", root)
    return root


def special_files(tag, root, cache):
    """Containers that are not plain audio files -> list of (name, path)."""
    out = []
    if tag == "@opensfx":  # OpenTTD sample catalogue: table of (offset,size); entry = len byte, credit text, RIFF wav
        d = open(os.path.join(root, "usr/share/games/openttd/baseset/opensfx/opensfx.cat"), "rb").read()
        n = (struct.unpack("<I", d[:4])[0] & 0x7FFFFFFF) // 8
        dst = os.path.join(cache, "opensfx")
        os.makedirs(dst, exist_ok=True)
        for i in range(n):
            off, size = struct.unpack("<II", d[8 * i : 8 * i + 8])
            off &= 0x7FFFFFFF
            nl = d[off]
            credit = d[off + 1 : off + nl].decode("latin1")
            wav = d[off + 1 + nl : off + size]
            if not wav.startswith(b"RIFF"):
                continue  # two slots are intentionally empty
            p = os.path.join(dst, f"osfx_{i:02d}.wav")
            open(p, "wb").write(wav)
            out.append((p, credit))
    return out


def load_mono(path):
    x, sr = sf.read(path, dtype="float32", always_2d=True)
    x = x.mean(axis=1)
    if sr != SR:
        g = gcd(SR, sr)
        x = resample_poly(x, SR // g, sr // g).astype(np.float32)
    return x, sr


def trim(x, thr_db=-60.0, win=512):
    if len(x) < win:
        return x
    n = len(x) // win
    rms = np.sqrt((x[: n * win].reshape(n, win) ** 2).mean(1) + 1e-12)
    on = np.nonzero(20 * np.log10(rms) > thr_db)[0]
    return x[on[0] * win : (on[-1] + 1) * win] if len(on) else x[:0]


def take(src_name, files, cap_min, max_s, seed=0):
    """Deterministic shuffle, then add excerpts until the cap is reached."""
    rng = random.Random(f"{seed}-{src_name}")
    files = sorted(files, key=lambda f: f[0])
    rng.shuffle(files)
    got, total, seen = [], 0.0, set()
    for path, note in files:
        try:
            x, sr0 = load_mono(path)
        except Exception as e:  # unreadable
            print("  skip", path, e, file=sys.stderr)
            continue
        h = hashlib.md5(x.tobytes()).hexdigest()
        if h in seen:
            continue
        seen.add(h)
        x = trim(x)
        if len(x) < 0.3 * SR or np.sqrt(np.mean(x**2)) < 10 ** (-55 / 20):
            continue
        if len(x) > max_s * SR:  # excerpt from a deterministic offset
            start = rng.randint(0, len(x) - int(max_s * SR))
            x = x[start : start + int(max_s * SR)]
        got.append((path, note, sr0, x))
        total += len(x) / SR
        if total >= cap_min * 60:
            break
    return got


def write(out, split, cat, src, items, fmt, lic, kind, pkg, rows, strip_root):
    d = os.path.join(out, split, cat)
    os.makedirs(d, exist_ok=True)
    for path, note, sr0, x in items:
        peak = float(np.abs(x).max())
        if peak > 0.999:
            x = x * (0.999 / peak)
        rel = os.path.relpath(path, strip_root)
        for pre in ("usr/share/games/", "usr/share/", "sound/"):
            rel = rel[len(pre) :] if rel.startswith(pre) else rel
        base = rel.replace("/", "__").replace(" ", "_")
        base = os.path.splitext(base)[0][-80:]
        p = os.path.join(d, f"{src}__{base}.{fmt}")
        sf.write(p, x, SR, subtype="PCM_16")
        rows.append(
            dict(
                split=split,
                category=cat,
                source=src,
                debian_package=pkg,
                license=lic,
                kind=kind,
                original=os.path.relpath(path, strip_root),
                original_sr=sr0,
                duration_s=round(len(x) / SR, 3),
                file=os.path.relpath(p, out),
                credit=note or "",
            )
        )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="corpus")
    ap.add_argument("--cache", default=".audio_cache")
    ap.add_argument("--format", default="wav", choices=["wav", "flac"])
    ap.add_argument("--only", nargs="*", help="subset of source names")
    a = ap.parse_args()
    rows = []
    for src, (split, cat, pkg, globs, lic, kind, cap, max_s, excl) in SOURCES.items():
        if a.only and src not in a.only:
            continue
        print(f"[{split}] {src}: {pkg}", flush=True)
        root = fetch(pkg, a.cache)
        strip = root
        files = []
        for g in globs:
            if g.startswith("@"):
                files += special_files(g, root, a.cache)
                strip = a.cache
            elif pkg == "ufoai-sound":  # audio lives inside a zip (.pk3)
                import zipfile

                z = os.path.join(a.cache, "ufoai")
                strip = z
                if not os.path.isdir(z):
                    zipfile.ZipFile(os.path.join(root, "usr/share/games/ufoai/base/0snd.pk3")).extractall(z)
                files += [(p, "") for p in glob.glob(os.path.join(z, g), recursive=True)]
            else:
                files += [(p, "") for p in glob.glob(os.path.join(root, g), recursive=True)]
        files = [f for f in files if not any(e in f[0] for e in excl)]
        items = take(src, files, cap, max_s)
        write(a.out, split, cat, src, items, a.format, lic, kind, pkg, rows, strip)
        print(f"   {len(items)} clips, {sum(len(i[3]) for i in items) / SR / 60:.1f} min", flush=True)
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "manifest.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    with open(os.path.join(a.out, "SOURCES.md"), "w") as f:
        f.write("# Sources (all from Debian 12 packages; see each package's /usr/share/doc/PKG/copyright)\n\n")
        f.write(
            "| split | category | source | package | license | content | clips | minutes |\n|---|---|---|---|---|---|---|---|\n"
        )
        for src in SOURCES:
            r = [x for x in rows if x["source"] == src]
            if r:
                f.write(
                    f"| {r[0]['split']} | {r[0]['category']} | {src} | {r[0]['debian_package']} | {r[0]['license']} | {r[0]['kind']} | {len(r)} | {sum(x['duration_s'] for x in r) / 60:.1f} |\n"
                )
    for split in ("train",):
        r = [x for x in rows if x["split"] == split]
        print(f"{split}: {len(r)} clips, {sum(x['duration_s'] for x in r) / 60:.1f} min")


if __name__ == "__main__":
    main()

"""Draw the resources carsr ships: the self-test's sample photo and the application icons.

Everything here is drawn from code (no photographs, no fonts beyond Pillow's own), so the outputs
are ours to release under CC0 (see ``resources/LICENSES.md``). The drawing is deterministic: the
same Pillow gives the same bytes. Run from the repository root::

    .venv/bin/python build_spec/make_resources.py

It writes ``resources/sample_car.png`` (640x400), ``carsr.png`` (256x256), ``carsr.ico`` and
``carsr.icns``. ``carsr.desktop`` and ``LICENSES.md`` are plain text kept in git by hand.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont

ROOT = Path(__file__).resolve().parent.parent
#: Scenes are drawn this many times larger and shrunk with a Lanczos filter, so that edges are
#: anti-aliased the way a camera's optics and sensor blur them (a 2x shrink of a drawing with hard
#: one-pixel edges would be an unfairly easy or hard test for the model).
SUPERSAMPLE = 4
SAMPLE_SIZE = (640, 400)
ICON_SIZE = 256
ICO_SIZES = [(16, 16), (24, 24), (32, 32), (48, 48), (64, 64), (128, 128), (256, 256)]


# -- helpers --------------------------------------------------------------------------------------


def vertical_gradient(size: tuple[int, int], stops: list[tuple[float, tuple[int, int, int]]]):
    """An RGB image whose colour runs through ``stops`` (position 0..1, colour) from top to bottom."""
    w, h = size
    t = np.linspace(0.0, 1.0, h)
    pos = [p for p, _ in stops]
    cols = np.array([c for _, c in stops], dtype=np.float64)
    rgb = np.stack([np.interp(t, pos, cols[:, i]) for i in range(3)], -1)
    return Image.fromarray(np.repeat(rgb[:, None, :], w, axis=1).round().astype(np.uint8))


def radial_gradient(size: int, inner: tuple[int, int, int], outer: tuple[int, int, int]):
    r = np.hypot(*np.meshgrid(np.linspace(-1, 1, size), np.linspace(-1, 1, size)))
    t = np.clip(r, 0, 1)[..., None]
    rgb = (1 - t) * np.array(inner, float) + t * np.array(outer, float)
    return Image.fromarray(rgb.round().astype(np.uint8))


def paint(canvas: Image.Image, fill: Image.Image | tuple, mask: Image.Image, box=(0, 0)) -> None:
    """Paste a colour or an image through a greyscale mask."""
    if isinstance(fill, tuple):
        fill = Image.new("RGB", mask.size, fill)
    canvas.paste(fill, box, mask)


def font(size: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


# -- the sample photo ------------------------------------------------------------------------------


def draw_background(img: Image.Image, s: int, rng: np.random.Generator) -> None:
    w, h = img.size
    horizon = 250 * s
    img.paste(
        vertical_gradient(
            (w, horizon), [(0, (74, 124, 188)), (0.65, (150, 186, 222)), (1, (214, 226, 236))]
        )
    )
    d = ImageDraw.Draw(img)
    # Thin clouds: a few soft ellipses, blurred.
    clouds = Image.new("L", (w, horizon), 0)
    cd = ImageDraw.Draw(clouds)
    for _ in range(9):
        cx, cy = rng.uniform(0, w), rng.uniform(15 * s, 90 * s)
        rx, ry = rng.uniform(40, 110) * s, rng.uniform(6, 14) * s
        cd.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=int(rng.uniform(70, 140)))
    clouds = clouds.filter(ImageFilter.GaussianBlur(8 * s))
    paint(img, (245, 247, 250), clouds)

    # A row of buildings with window grids: straight edges and repetitive detail.
    x = -10 * s
    palette = [(176, 160, 142), (150, 156, 166), (196, 182, 160), (132, 120, 112), (168, 176, 182)]
    i = 0
    while x < w:
        bw = int(rng.uniform(70, 130) * s)
        top = int(rng.uniform(95, 175) * s)
        col = palette[i % len(palette)]
        d.rectangle([x, top, x + bw, horizon], fill=col)
        d.line([x, top, x + bw, top], fill=tuple(c - 30 for c in col), width=2 * s)
        shade = tuple(max(0, c - 45) for c in col)
        win_w, win_h = int(rng.choice([8, 10, 12]) * s), int(rng.choice([10, 13]) * s)
        gap_x, gap_y = win_w + int(rng.choice([5, 7]) * s), win_h + 6 * s
        for wy in range(top + 8 * s, horizon - 30 * s, gap_y):
            for wx in range(x + 6 * s, x + bw - win_w - 4 * s, gap_x):
                lit = rng.random() < 0.18
                d.rectangle(
                    [wx, wy, wx + win_w, wy + win_h], fill=(236, 214, 150) if lit else shade
                )
                d.line([wx, wy + win_h // 2, wx + win_w, wy + win_h // 2], fill=col, width=s)
        x += bw + int(rng.uniform(0, 12) * s)
        i += 1

    # A shop sign with lettering: the finest detail in the picture.
    d.rectangle([470 * s, 150 * s, 620 * s, 176 * s], fill=(38, 52, 70))
    d.rectangle([470 * s, 150 * s, 620 * s, 176 * s], outline=(210, 190, 120), width=s)
    d.text((545 * s, 163 * s), "AUTO SERVICE", font=font(15 * s), fill=(240, 226, 170), anchor="mm")

    # Pavement and kerb.
    d.rectangle([0, horizon, w, 262 * s], fill=(170, 168, 162))
    for px in range(0, w, 38 * s):
        d.line([px, horizon, px - 6 * s, 262 * s], fill=(140, 138, 133), width=s)
    d.rectangle([0, 262 * s, w, 268 * s], fill=(120, 118, 114))
    # Railings in front of the buildings: thin repeated verticals.
    d.line([0, 232 * s, w, 232 * s], fill=(60, 64, 68), width=2 * s)
    d.line([0, 245 * s, w, 245 * s], fill=(60, 64, 68), width=s)
    for rx in range(0, w, 9 * s):
        d.line([rx, 232 * s, rx, horizon], fill=(70, 74, 78), width=s)

    # Road: asphalt with grain, lane markings.
    road_h = h - 268 * s
    road = vertical_gradient((w, road_h), [(0, (92, 94, 98)), (1, (58, 60, 64))])
    grain = rng.normal(0, 9, (road_h // s + 1, w // s + 1))
    grain = np.kron(grain, np.ones((s, s)))[:road_h, :w]
    road_a = np.asarray(road).astype(np.float64) + grain[..., None]
    img.paste(Image.fromarray(np.clip(road_a, 0, 255).astype(np.uint8)), (0, 268 * s))
    for lx in range(-20 * s, w, 90 * s):
        d.polygon(
            [(lx, 372 * s), (lx + 55 * s, 372 * s), (lx + 57 * s, 380 * s), (lx + 2 * s, 380 * s)],
            fill=(226, 224, 214),
        )


def body_mask(size: tuple[int, int], s: int) -> Image.Image:
    """The car's silhouette (side view, facing right), without the wheel arches cut out."""
    m = Image.new("L", size, 0)
    d = ImageDraw.Draw(m)

    def curve(p0, p1, p2, n=24):  # quadratic Bezier
        return [
            (
                ((1 - t) ** 2 * p0[0] + 2 * (1 - t) * t * p1[0] + t**2 * p2[0]) * s,
                ((1 - t) ** 2 * p0[1] + 2 * (1 - t) * t * p1[1] + t**2 * p2[1]) * s,
            )
            for t in (i / n for i in range(n + 1))
        ]

    outline = (
        curve((96, 318), (84, 300), (92, 268))  # rear bumper
        + curve((92, 268), (96, 244), (130, 236))  # boot
        + curve((130, 236), (180, 230), (214, 226))  # rear deck
        + curve((214, 226), (240, 184), (290, 176))  # rear window
        + curve((290, 176), (360, 168), (410, 178))  # roof
        + curve((410, 178), (446, 200), (470, 226))  # windscreen
        + curve((470, 226), (540, 232), (566, 252))  # bonnet
        + curve((566, 252), (580, 270), (574, 300))  # nose
        + curve((574, 300), (570, 318), (548, 320))  # front bumper
    )
    d.polygon([*outline, (96 * s, 320 * s)], fill=255)
    return m


WHEELS = [(170, 316, 37), (482, 316, 37)]  # centre x, centre y, tyre radius (in 640x400 units)


def draw_car(img: Image.Image, s: int) -> None:
    # Soft shadow under the car.
    shadow = Image.new("L", img.size, 0)
    ImageDraw.Draw(shadow).ellipse([88 * s, 330 * s, 590 * s, 362 * s], fill=170)
    shadow = shadow.filter(ImageFilter.GaussianBlur(7 * s))
    paint(img, (20, 20, 24), shadow)

    body = body_mask(img.size, s)
    arches = Image.new("L", img.size, 0)
    ad = ImageDraw.Draw(arches)
    for cx, cy, r in WHEELS:
        ra = r + 6
        ad.ellipse([(cx - ra) * s, (cy - ra) * s, (cx + ra) * s, (cy + ra) * s], fill=255)
    body_only = ImageChops.subtract(body, arches)

    # Paint: deep red, lighter on the shoulder, darker at the sills, with a bright highlight band.
    paint_img = vertical_gradient(
        img.size,
        [
            (0.0, (120, 10, 16)),
            (170 / 400, (150, 18, 26)),
            (228 / 400, (214, 52, 56)),
            (246 / 400, (188, 28, 34)),
            (290 / 400, (142, 14, 22)),
            (330 / 400, (62, 6, 10)),
            (1.0, (40, 4, 8)),
        ],
    )
    paint(img, paint_img, body_only)
    highlight = Image.new("L", img.size, 0)
    hd = ImageDraw.Draw(highlight)
    hd.line([(120 * s, 248 * s), (560 * s, 258 * s)], fill=150, width=4 * s)
    highlight = ImageChops.multiply(highlight.filter(ImageFilter.GaussianBlur(2 * s)), body_only)
    paint(img, (255, 214, 210), highlight)

    d = ImageDraw.Draw(img)
    # Windows: glass with a gradient, reflections, dark frames and the B-pillar.
    glass_mask = Image.new("L", img.size, 0)
    gd = ImageDraw.Draw(glass_mask)
    gd.polygon(
        [
            (p[0] * s, p[1] * s)
            for p in [(226, 228), (252, 192), (296, 183), (330, 181), (330, 228)]
        ],
        fill=255,
    )
    gd.polygon(
        [
            (p[0] * s, p[1] * s)
            for p in [(340, 181), (402, 184), (436, 206), (458, 228), (340, 228)]
        ],
        fill=255,
    )
    glass = vertical_gradient(
        img.size,
        [
            (0, (30, 40, 56)),
            (180 / 400, (70, 92, 118)),
            (230 / 400, (22, 28, 38)),
            (1, (22, 28, 38)),
        ],
    )
    paint(img, glass, glass_mask)
    streaks = Image.new("L", img.size, 0)
    sd = ImageDraw.Draw(streaks)
    for x0, width in [(250, 10), (268, 4), (362, 14), (386, 5), (300, 3)]:
        sd.polygon(
            [
                ((x0 + 30) * s, 180 * s),
                ((x0 + 30 + width) * s, 180 * s),
                ((x0 + width) * s, 230 * s),
                (x0 * s, 230 * s),
            ],
            fill=90,
        )
    paint(img, (210, 226, 240), ImageChops.multiply(streaks, glass_mask))
    d.rectangle([330 * s, 180 * s, 340 * s, 229 * s], fill=(18, 18, 22))  # B-pillar
    d.line(
        [(226 * s, 229 * s), (460 * s, 229 * s)], fill=(24, 24, 28), width=2 * s
    )  # sill of glass
    d.line(
        [
            (p[0] * s, p[1] * s)
            for p in [(224, 229), (250, 190), (296, 181), (404, 182), (460, 229)]
        ],
        fill=(28, 28, 32),
        width=2 * s,
        joint="curve",
    )

    # Door seams, handles, character line, mirror.
    for pts in (
        [(238, 232), (236, 300), (246, 318)],
        [(335, 231), (335, 320)],
        [(456, 232), (452, 300), (442, 318)],
    ):
        d.line([(x * s, y * s) for x, y in pts], fill=(70, 6, 10), width=s, joint="curve")
    for hx in (262, 356):
        d.rounded_rectangle(
            [hx * s, 246 * s, (hx + 22) * s, 251 * s],
            radius=2 * s,
            fill=(90, 10, 14),
            outline=(230, 160, 160),
            width=max(1, s // 2),
        )
    d.line([(104 * s, 276 * s), (570 * s, 282 * s)], fill=(100, 8, 14), width=s)
    d.polygon(
        [(p[0] * s, p[1] * s) for p in [(440, 214), (462, 210), (466, 224), (446, 226)]],
        fill=(110, 12, 18),
        outline=(40, 4, 6),
    )
    # Sills and bumpers in black plastic.
    d.line([(208 * s, 322 * s), (446 * s, 322 * s)], fill=(24, 24, 26), width=5 * s)
    d.line([(92 * s, 304 * s), (128 * s, 306 * s)], fill=(30, 30, 32), width=4 * s)
    d.line([(528 * s, 306 * s), (574 * s, 302 * s)], fill=(30, 30, 32), width=4 * s)

    # Lamps: headlamp with an inner reflector, tail lamp with ribs, an indicator.
    d.polygon(
        [(p[0] * s, p[1] * s) for p in [(540, 250), (566, 254), (572, 268), (548, 266)]],
        fill=(230, 236, 240),
        outline=(70, 74, 80),
        width=s,
    )
    d.ellipse([552 * s, 256 * s, 562 * s, 265 * s], fill=(255, 255, 250), outline=(150, 156, 164))
    d.polygon(
        [(p[0] * s, p[1] * s) for p in [(92, 256), (116, 250), (118, 266), (94, 270)]],
        fill=(200, 20, 24),
        outline=(60, 4, 6),
        width=s,
    )
    for ty in range(253, 268, 3):
        d.line(
            [(95 * s, ty * s), (116 * s, (ty - 1) * s)], fill=(255, 90, 80), width=max(1, s // 2)
        )
    d.rectangle([512 * s, 268 * s, 522 * s, 272 * s], fill=(240, 150, 40))
    # Grille slats at the nose.
    for gy in range(276, 298, 4):
        d.line([(560 * s, gy * s), (575 * s, gy * s)], fill=(26, 26, 30), width=2 * s)
    # A chrome badge on the boot lid.
    d.text((124 * s, 262 * s), "carsr", font=font(8 * s), fill=(226, 228, 232), anchor="mm")

    for cx, cy, r in WHEELS:
        draw_wheel(img, cx * s, cy * s, r * s, s)


def draw_wheel(img: Image.Image, cx: int, cy: int, r: int, s: int) -> None:
    d = ImageDraw.Draw(img)
    d.ellipse([cx - r - 6 * s, cy - r - 6 * s, cx + r + 6 * s, cy + r + 6 * s], fill=(14, 14, 16))
    d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(30, 30, 32))  # tyre
    # Tread blocks around the tyre's edge and a sidewall ring.
    for k in range(72):
        a = 2 * math.pi * k / 72
        r0, r1 = r - 3 * s, r
        d.line(
            [
                (cx + r0 * math.cos(a), cy + r0 * math.sin(a)),
                (cx + r1 * math.cos(a), cy + r1 * math.sin(a)),
            ],
            fill=(52, 52, 56),
            width=max(1, s // 2),
        )
    rs = int(r * 0.78)
    d.ellipse([cx - rs, cy - rs, cx + rs, cy + rs], outline=(58, 58, 62), width=s)
    # Rim: brushed-metal radial gradient, five twin spokes, brake disc and calliper behind.
    rr = int(r * 0.66)
    rim = radial_gradient(2 * rr, (236, 238, 242), (128, 132, 140))
    rim_mask = Image.new("L", (2 * rr, 2 * rr), 0)
    ImageDraw.Draw(rim_mask).ellipse([0, 0, 2 * rr - 1, 2 * rr - 1], fill=255)
    img.paste(rim, (cx - rr, cy - rr), rim_mask)
    rd = int(rr * 0.88)
    d.ellipse([cx - rd, cy - rd, cx + rd, cy + rd], fill=(64, 66, 70))  # behind the spokes
    for k in range(36):
        a = 2 * math.pi * k / 36
        d.line(
            [
                (cx + 0.45 * rd * math.cos(a), cy + 0.45 * rd * math.sin(a)),
                (cx + 0.8 * rd * math.cos(a), cy + 0.8 * rd * math.sin(a)),
            ],
            fill=(84, 86, 90),
            width=max(1, s // 2),
        )  # drilled disc
    d.pieslice(
        [cx - 0.8 * rd, cy - 0.8 * rd, cx + 0.8 * rd, cy + 0.8 * rd], 200, 250, fill=(196, 160, 30)
    )  # calliper
    for k in range(5):
        a = 2 * math.pi * k / 5 - math.pi / 2
        for off in (-0.09, 0.09):
            b = a + off
            p_in = (cx + 0.22 * rd * math.cos(b), cy + 0.22 * rd * math.sin(b))
            p_out = (cx + rd * math.cos(b), cy + rd * math.sin(b))
            d.line([p_in, p_out], fill=(214, 218, 224), width=int(2.2 * s))
            d.line([p_in, p_out], fill=(150, 154, 162), width=max(1, s // 2))
    hub = int(rd * 0.26)
    d.ellipse(
        [cx - hub, cy - hub, cx + hub, cy + hub],
        fill=(200, 204, 210),
        outline=(90, 92, 98),
        width=s,
    )
    for k in range(5):
        a = 2 * math.pi * k / 5 - math.pi / 2
        bx, by = cx + 0.6 * hub * math.cos(a), cy + 0.6 * hub * math.sin(a)
        d.ellipse([bx - s, by - s, bx + s, by + s], fill=(60, 62, 66))
    d.ellipse([cx - rr, cy - rr, cx + rr, cy + rr], outline=(96, 98, 104), width=s)


def sample_car(size: tuple[int, int] = SAMPLE_SIZE, seed: int = 7) -> Image.Image:
    """A red saloon parked in a street: gradients, reflections, wheels, lettering and grain."""
    s = SUPERSAMPLE
    rng = np.random.default_rng(seed)
    big = Image.new("RGB", (size[0] * s, size[1] * s))
    draw_background(big, s, rng)
    draw_car(big, s)
    img = big.resize(size, Image.Resampling.LANCZOS)
    # A little sensor noise, as in any photo.
    a = np.asarray(img).astype(np.float64) + rng.normal(0, 1.2, (size[1], size[0], 1))
    return Image.fromarray(np.clip(a, 0, 255).round().astype(np.uint8))


# -- the icon -------------------------------------------------------------------------------------


def icon(size: int = ICON_SIZE) -> Image.Image:
    """A car's silhouette, blocky on the left and smooth on the right, on a rounded blue tile."""
    s = 4
    n = size * s
    tile_mask = Image.new("L", (n, n), 0)
    ImageDraw.Draw(tile_mask).rounded_rectangle([0, 0, n - 1, n - 1], radius=n // 5, fill=255)
    out = Image.new("RGBA", (n, n), (0, 0, 0, 0))
    out.paste(
        vertical_gradient((n, n), [(0, (40, 120, 200)), (1, (14, 46, 96))]).convert("RGBA"),
        (0, 0),
        tile_mask,
    )

    car = Image.new("L", (n, n), 0)
    d = ImageDraw.Draw(car)
    u = n / 256
    d.rounded_rectangle([24 * u, 118 * u, 232 * u, 168 * u], radius=18 * u, fill=255)
    d.polygon(
        [(64 * u, 122 * u), (92 * u, 80 * u), (160 * u, 78 * u), (196 * u, 122 * u)], fill=255
    )
    for wx in (74, 182):  # wheels cut out, then drawn as rings
        d.ellipse([(wx - 24) * u, (166 - 24) * u, (wx + 24) * u, (166 + 24) * u], fill=0)
        d.ellipse([(wx - 18) * u, (166 - 18) * u, (wx + 18) * u, (166 + 18) * u], fill=255)
        d.ellipse([(wx - 7) * u, (166 - 7) * u, (wx + 7) * u, (166 + 7) * u], fill=0)
    for pts in (
        [(80, 118), (98, 90), (124, 89), (124, 118)],
        [(132, 118), (132, 89), (156, 88), (180, 118)],
    ):
        d.polygon([(x * u, y * u) for x, y in pts], fill=0)  # windows

    blocky = car.resize((24, 24), Image.Resampling.BOX).resize((n, n), Image.Resampling.NEAREST)
    split = Image.new("L", (n, n), 0)
    ImageDraw.Draw(split).polygon([(0, 0), (n * 0.56, 0), (n * 0.44, n), (0, n)], fill=255)
    silhouette = Image.composite(blocky, car, split)
    white = Image.new("RGBA", (n, n), (250, 252, 255, 255))
    out.paste(white, (0, 0), ImageChops.multiply(silhouette, tile_mask))
    # The dividing line: a thin bright stroke, like a before/after slider.
    line = Image.new("L", (n, n), 0)
    ImageDraw.Draw(line).line([(n * 0.56, n * 0.1), (n * 0.44, n * 0.9)], fill=255, width=3 * s)
    out.paste(Image.new("RGBA", (n, n), (255, 200, 60, 255)), (0, 0), line)
    return out.resize((size, size), Image.Resampling.LANCZOS)


# -- main -----------------------------------------------------------------------------------------


def write_all(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    sample = folder / "sample_car.png"
    sample_car().save(sample, optimize=True)
    written.append(sample)
    ico = icon(ICON_SIZE)
    ico.save(folder / "carsr.png", optimize=True)
    ico.save(folder / "carsr.ico", sizes=ICO_SIZES)
    icon(512).save(folder / "carsr.icns")
    written += [folder / "carsr.png", folder / "carsr.ico", folder / "carsr.icns"]
    return written


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=ROOT / "resources", help="output folder")
    args = p.parse_args(argv)
    for path in write_all(args.out):
        print(f"wrote {path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Make Rounds' icons: a white tick on the brand's blue, nothing borrowed. Run it from the
repository's root after changing the drawing (Pillow comes with fpdf2):

    .venv/bin/python static/icons/make_icons.py

It writes icon.svg (the favicon browsers prefer), favicon.ico (16, 32 and 48 pixels, for those
that ask for /favicon.ico), apple-touch-icon.png (180 pixels, a phone's home screen) and
icon-192.png and icon-512.png (the web manifest's). The PNGs are drawn four times larger and
scaled down, for smooth edges.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
BRAND = "#0b5394"  # style.css --brand
#: The tick, on a 64-unit square: three points, drawn with round ends.
TICK = [(17, 33), (27, 43), (47, 21)]
STROKE = 7
CORNER = 14

SVG = f"""<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64">\
<rect width="64" height="64" rx="{CORNER}" fill="{BRAND}"/>\
<path d="M{TICK[0][0]} {TICK[0][1]}L{TICK[1][0]} {TICK[1][1]}L{TICK[2][0]} {TICK[2][1]}" fill="none" stroke="#fff" \
stroke-width="{STROKE}" stroke-linecap="round" stroke-linejoin="round"/></svg>
"""


def draw(size: int, *, rounded: bool = True) -> Image.Image:
    big = size * 4
    unit = big / 64
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    pen = ImageDraw.Draw(image)
    if rounded:
        pen.rounded_rectangle((0, 0, big - 1, big - 1), radius=round(CORNER * unit), fill=BRAND)
    else:  # a phone's home screen rounds the corners itself
        pen.rectangle((0, 0, big - 1, big - 1), fill=BRAND)
    points = [(x * unit, y * unit) for x, y in TICK]
    width = round(STROKE * unit)
    pen.line(points, fill="white", width=width, joint="curve")
    for x, y in (points[0], points[-1]):  # round ends
        r = width / 2
        pen.ellipse((x - r, y - r, x + r, y + r), fill="white")
    return image.resize((size, size), Image.Resampling.LANCZOS)


def main() -> None:
    (HERE / "icon.svg").write_text(SVG, encoding="utf-8")
    draw(48).save(HERE / "favicon.ico", sizes=[(16, 16), (32, 32), (48, 48)])
    draw(180, rounded=False).convert("RGB").save(HERE / "apple-touch-icon.png", optimize=True)
    for size in (192, 512):
        draw(size).save(HERE / f"icon-{size}.png", optimize=True)


if __name__ == "__main__":
    main()

// Region colours: dark enough to be readable as text on white and on the answer bubble (contrast >= 4.5) and
// distinct as box outlines on an image. Region n always gets the same colour, in the text and on the image.
// Twenty of them, picked so that the nearest two still differ clearly (CIELAB distance >= 12): numbers run across
// a conversation, so its first 20 regions never share a colour.

const PALETTE = [
  '#c62828', '#1565c0', '#2e7d32', '#6a1b9a', '#a84c00', '#00796b', '#ad1457', '#4527a0', '#5d6400', '#6d4c41',
  '#0000ff', '#663366', '#005577', '#aa11ee', '#cc0099', '#0055ff', '#aa5544', '#445533', '#664400', '#4411cc',
];

export function regionColor(number) {
  const n = Number.isFinite(number) && number > 0 ? number : 1;
  return PALETTE[(n - 1) % PALETTE.length];
}

export function hexToRgb(hex) {
  const v = parseInt(hex.slice(1), 16);
  return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
}

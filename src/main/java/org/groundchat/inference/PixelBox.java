package org.groundchat.inference;

/** An axis-aligned box in the original image's pixel coordinates (x1,y1 top-left; x2,y2 bottom-right). */
public record PixelBox(double x1, double y1, double x2, double y2) {

    public double width() { return Math.max(0, x2 - x1); }

    public double height() { return Math.max(0, y2 - y1); }

    public double area() { return width() * height(); }

    public double iou(PixelBox other) {
        double ix = Math.max(0, Math.min(x2, other.x2) - Math.max(x1, other.x1));
        double iy = Math.max(0, Math.min(y2, other.y2) - Math.max(y1, other.y1));
        double inter = ix * iy;
        double union = area() + other.area() - inter;
        return union <= 0 ? 0 : inter / union;
    }

    public double[] toArray() { return new double[] {x1, y1, x2, y2}; }
}

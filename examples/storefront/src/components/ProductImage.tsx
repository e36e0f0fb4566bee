// A product image, or a tile with the product's initials when the image cannot be loaded (the
// demo catalog's image host does not exist).
import { useState } from "react";

export function ProductImage({ url, alt }: { url: string | null | undefined; alt: string }) {
  const [failed, setFailed] = useState(false);
  if (!url || failed) {
    const initials = alt
      .split(/\s+/)
      .slice(0, 2)
      .map((w) => w[0] ?? "")
      .join("")
      .toUpperCase();
    return (
      <span className="image-tile" role="img" aria-label={alt}>
        {initials}
      </span>
    );
  }
  return <img src={url} alt={alt} loading="lazy" onError={() => setFailed(true)} />;
}

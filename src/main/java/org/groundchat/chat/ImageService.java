package org.groundchat.chat;

import io.quarkus.narayana.jta.QuarkusTransaction;
import jakarta.annotation.PostConstruct;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.transaction.Transactional;
import jakarta.inject.Inject;
import org.groundchat.inference.DecodedImage;
import org.groundchat.inference.ImageDecoder;
import org.groundchat.inference.ImageRejectedException;
import org.groundchat.persistence.ImageEntity;

import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.ImageInputStream;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.time.Instant;
import java.util.Iterator;
import java.util.UUID;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/** Validates and stores uploaded images; identical bytes map to one stored image. */
@ApplicationScoped
public class ImageService {
    private static final int DECODE_WAIT_SECONDS = 30;

    @Inject
    ImageLimits limits;
    @Inject
    Quotas quotas;
    @ConfigProperty(name = "groundchat.image.max-concurrent-decodes", defaultValue = "2")
    int maxConcurrentDecodes;
    private Semaphore decodes;

    @PostConstruct
    void init() {
        decodes = new Semaphore(maxConcurrentDecodes, true);
    }

    /** An account's upload (any entry point): its uploads rate and stored-bytes quota first, then {@link #store}. */
    public ImageEntity upload(byte[] bytes, UUID account) {
        quotas.take(account, Quotas.Rate.UPLOADS);
        quotas.checkStorage(storedBytes(account), bytes.length);
        return store(bytes, account);
    }

    /**
     * Stores the image (or finds the identical one) and makes the account one of its owners. 413 when too big, 415
     * when not a decodable image. The answer is the same whether or not someone else uploaded the bytes before.
     */
    public ImageEntity store(byte[] bytes, UUID account) {
        for (int attempt = 0; ; attempt++) {
            ImageEntity e = storeBytes(bytes);
            try {
                QuarkusTransaction.requiringNew().run(() -> ImageEntity.getEntityManager().createNativeQuery(
                                "insert into image_owners (image_id, account_id) values (?1, ?2) on conflict do nothing")
                        .setParameter(1, e.id).setParameter(2, account).executeUpdate());
                return e;
            } catch (RuntimeException ex) {
                // its last owner deleted the same bytes between the lookup and this insert: store them anew
                boolean gone = QuarkusTransaction.requiringNew().call(() -> ImageEntity.findById(e.id) == null);
                if (attempt > 0 || !gone) throw ex;
            }
        }
    }

    private ImageEntity storeBytes(byte[] bytes) {
        if (bytes == null || bytes.length == 0) throw ChatException.badRequest("empty_file", "The uploaded file is empty.");
        if (bytes.length > limits.maxBytes()) {
            throw new ChatException(ChatException.Kind.TOO_LARGE, "image_too_large", "The file has " + bytes.length
                    + " bytes; the limit is " + limits.maxBytes() + " bytes.");
        }
        // identical bytes were decoded and checked when first stored: no second decode
        ImageEntity known = findBySha(ImageDecoder.sha256Hex(bytes));
        if (known != null) return known;
        long pixels = headerPixels(bytes);
        if (pixels > limits.maxPixels()) {
            throw new ChatException(ChatException.Kind.TOO_LARGE, "image_too_large", "The image has " + pixels
                    + " pixels; the limit is " + limits.maxPixels() + " pixels.");
        }
        DecodedImage decoded = decodeBounded(bytes);
        ImageEntity existing = findBySha(decoded.sha256());
        if (existing != null) return existing;
        try {
            return QuarkusTransaction.requiringNew().call(() -> insert(bytes, decoded));
        } catch (RuntimeException e) {
            // two uploads of the same new bytes at once: the loser finds the winner's row
            ImageEntity winner = findBySha(decoded.sha256());
            if (winner != null) return winner;
            throw e;
        }
    }

    /**
     * A decode holds up to width*height*4 bytes of pixels (160 MB at the pixel limit), so only a few run at once;
     * the others wait their turn, and give up with 503 after a while rather than pile up in memory.
     */
    private DecodedImage decodeBounded(byte[] bytes) {
        boolean admitted;
        try {
            admitted = decodes.tryAcquire(DECODE_WAIT_SECONDS, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            admitted = false;
        }
        if (!admitted) {
            throw new ChatException(ChatException.Kind.UNAVAILABLE, "busy", "Too many images are being read right now; try again in a moment.");
        }
        try {
            return ImageDecoder.decode(bytes, limits.maxPixels());
        } catch (ImageRejectedException e) {
            throw new ChatException(ChatException.Kind.UNSUPPORTED_MEDIA, "not_an_image", e.getMessage());
        } finally {
            decodes.release();
        }
    }

    private static ImageEntity insert(byte[] bytes, DecodedImage decoded) {
        ImageEntity e = new ImageEntity();
        e.id = UUID.randomUUID();
        e.sha256 = decoded.sha256();
        e.mimeType = decoded.mimeType();
        e.sizeBytes = bytes.length;
        e.width = decoded.width();
        e.height = decoded.height();
        e.content = bytes;
        e.createdAt = Instant.now();
        e.persist();
        return e;
    }

    private static ImageEntity findBySha(String sha) {
        return QuarkusTransaction.joiningExisting().call(() -> ImageEntity.findBySha256(sha).orElse(null));
    }

    /** The image's metadata (and lazily its bytes) if the account uploaded it; 404 otherwise, as for an unknown id. */
    @Transactional
    public ImageEntity get(UUID id, UUID account) {
        return requireOwned(id, account);
    }

    @Transactional
    public byte[] content(UUID id, UUID account) {
        return requireOwned(id, account).content;
    }

    /**
     * The account gives the image up; once nobody owns it and no conversation shows it, its bytes are deleted.
     * Refused with 409 while one of the account's conversations still shows it (the conversation would lose its
     * picture and its regions their meaning); {@code force} does not change that, it only changes the reason. An image
     * the account does not own is 404, as for an unknown id; identical bytes another account uploaded stay theirs.
     */
    @Transactional
    public void delete(UUID id, UUID account, boolean force) {
        requireOwned(id, account);
        var em = ImageEntity.getEntityManager();
        long inUse = ((Number) em.createNativeQuery("select count(distinct c.id) from conversations c "
                + "left join messages m on m.conversation_id = c.id "
                + "where c.account_id = ?2 and (c.image_id = ?1 or m.image_id = ?1)")
                .setParameter(1, id).setParameter(2, account).getSingleResult()).longValue();
        if (inUse > 0) {
            String shows = inUse + (inUse == 1 ? " of your conversations shows" : " of your conversations show")
                    + " this image; delete " + (inUse == 1 ? "it" : "them") + " first.";
            throw ChatException.conflict("image_in_use", force
                    ? "Even with force, an image that a stored conversation shows is not deleted: " + shows : shows);
        }
        em.createNativeQuery("delete from image_owners where image_id = ?1 and account_id = ?2")
                .setParameter(1, id).setParameter(2, account).executeUpdate();
        // nobody else owns it and no conversation shows it: the bytes go too
        em.createNativeQuery("delete from images i where i.id = ?1 "
                + "and not exists (select 1 from image_owners o where o.image_id = i.id) "
                + "and not exists (select 1 from conversations c where c.image_id = i.id) "
                + "and not exists (select 1 from messages m where m.image_id = i.id)").setParameter(1, id).executeUpdate();
    }

    /** Bytes of all images the account owns (each counted in full, though identical bytes are stored once). */
    @Transactional
    public long storedBytes(UUID account) {
        return ((Number) ImageEntity.getEntityManager().createNativeQuery("select coalesce(sum(i.size_bytes), 0) from images i "
                + "join image_owners o on o.image_id = i.id where o.account_id = ?1").setParameter(1, account)
                .getSingleResult()).longValue();
    }

    /** Must be called inside a transaction. */
    public static ImageEntity requireOwned(UUID id, UUID account) {
        ImageEntity e = ImageEntity.findById(id);
        boolean owned = e != null && account != null && ((Number) ImageEntity.getEntityManager().createNativeQuery(
                        "select count(*) from image_owners where image_id = ?1 and account_id = ?2")
                .setParameter(1, id).setParameter(2, account).getSingleResult()).longValue() > 0;
        if (!owned) throw ChatException.notFound("unknown_image", "No image with id '" + id + "'.");
        return e;
    }

    /**
     * Width*height from the image header without decoding pixels, or -1 when no reader recognises the bytes
     * (the decoder then reports what is wrong).
     */
    static long headerPixels(byte[] bytes) {
        try (ImageInputStream in = ImageIO.createImageInputStream(new ByteArrayInputStream(bytes))) {
            Iterator<ImageReader> readers = ImageIO.getImageReaders(in);
            if (!readers.hasNext()) return -1;
            ImageReader reader = readers.next();
            try {
                reader.setInput(in, true, true);
                return (long) reader.getWidth(0) * reader.getHeight(0);
            } finally {
                reader.dispose();
            }
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }
}

/* What ESP-IDF's EMBED_FILES generates for temporal_head.rvne, for the host build of
 * temporal_task.c: the file's bytes between two symbols. MODEL_PATH comes from the compiler. */
    .section .rodata
    .balign 16
    .global _binary_temporal_head_rvne_start
    .global _binary_temporal_head_rvne_end
_binary_temporal_head_rvne_start:
    .incbin MODEL_PATH
_binary_temporal_head_rvne_end:
    .section .note.GNU-stack,"",@progbits

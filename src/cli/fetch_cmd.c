#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "data/fetch.h"

int cmd_fetch(int argc, char **argv) {
    if (argc == 0 || strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) {
        printf("usage: qat fetch DATASET...\n\n"
               "Puts the dataset's files in the data root (QAT_DATA_DIR, default data/), taken from\n"
               "QAT_DATA_MIRROR (default ../shared/data) or the official URL, each checked against\n"
               "its sha256. Datasets:");
        for (const char *const *d = data_known_datasets(); *d; d++) printf(" %s", *d);
        printf("\n");
        return argc == 0 ? 2 : 0;
    }
    for (int i = 0; i < argc; i++) {
        flag_check_choice("qat fetch", argv[i], data_known_datasets());
        data_fetch(argv[i]);
        printf("%s: ok (%s/)\n", argv[i], data_root());
    }
    return 0;
}

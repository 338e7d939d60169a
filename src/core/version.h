/* The version of qat, from CMakeLists.txt (project VERSION), recorded in exported models. */
#ifndef QAT_CORE_VERSION_H
#define QAT_CORE_VERSION_H

#ifndef QAT_VERSION
#define QAT_VERSION "unknown"
#endif

#endif

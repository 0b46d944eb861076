#include "controlplane/debian_packages.h"

#include <algorithm>
#include <array>

#include "absl/strings/str_cat.h"

namespace berth::controlplane {

namespace {

constexpr std::string_view kAzureSdk = "Debian's Azure SDK for Python";
constexpr std::string_view kMlflow =
    "berth provides an mlflow compatibility subset for loading and predicting";

// One entry a line, sorted by distribution: scripts/check-debian-hints reads them from here.
// Names checked with apt-cache against Debian 12 (bookworm) main.
constexpr std::array kPackages = {
    DebianPackage{"accelerate", ""},
    DebianPackage{"attrs", "python3-attr"},
    DebianPackage{"azure-ai-ml", "python3-azure", "", kAzureSdk},
    DebianPackage{"azure-core", "python3-azure", "", kAzureSdk},
    DebianPackage{"azure-identity", "python3-azure", "", kAzureSdk},
    DebianPackage{"azure-keyvault-secrets", "python3-azure", "", kAzureSdk},
    DebianPackage{"azure-storage-blob", "python3-azure-storage"},
    DebianPackage{"azure-storage-file-datalake", "python3-azure-storage"},
    DebianPackage{"azure-storage-file-share", "python3-azure-storage"},
    DebianPackage{"azure-storage-queue", "python3-azure-storage"},
    DebianPackage{"beautifulsoup4", "python3-bs4"},
    DebianPackage{"bokeh", ""},
    DebianPackage{"boto3", "python3-boto3"},
    DebianPackage{"catboost", ""},
    DebianPackage{"certifi", "python3-certifi"},
    DebianPackage{"click", "python3-click"},
    DebianPackage{"cloudpickle", "python3-cloudpickle"},
    DebianPackage{"cython", "cython3"},
    DebianPackage{"dask", "python3-dask"},
    DebianPackage{"datasets", ""},
    DebianPackage{"dill", "python3-dill"},
    DebianPackage{"distributed", "python3-distributed"},
    DebianPackage{"fastapi", "python3-fastapi"},
    DebianPackage{"fastparquet", ""},
    DebianPackage{"flask", "python3-flask"},
    DebianPackage{"gensim", "python3-gensim"},
    DebianPackage{"grpcio", "python3-grpcio"},
    DebianPackage{"grpcio-tools", "python3-grpc-tools"},
    DebianPackage{"gunicorn", "python3-gunicorn"},
    DebianPackage{"h5py", "python3-h5py"},
    DebianPackage{"huggingface-hub", ""},
    DebianPackage{"imageio", "python3-imageio"},
    DebianPackage{"imbalanced-learn", "python3-imblearn"},
    DebianPackage{"jinja2", "python3-jinja2"},
    DebianPackage{"joblib", "python3-joblib"},
    DebianPackage{"jsonschema", "python3-jsonschema"},
    DebianPackage{"keras", ""},
    DebianPackage{"lightgbm", ""},
    DebianPackage{"llvmlite", "python3-llvmlite"},
    DebianPackage{"lxml", "python3-lxml"},
    DebianPackage{"matplotlib", "python3-matplotlib"},
    DebianPackage{"mlflow", "", "", kMlflow},
    DebianPackage{"mlflow-skinny", "", "", kMlflow},
    DebianPackage{"msgpack", "python3-msgpack"},
    DebianPackage{"networkx", "python3-networkx"},
    DebianPackage{"nltk", "python3-nltk"},
    DebianPackage{"numba", "python3-numba"},
    DebianPackage{"numexpr", "python3-numexpr"},
    DebianPackage{"numpy", "python3-numpy"},
    DebianPackage{"onnx", "python3-onnx"},
    DebianPackage{"onnxruntime", ""},
    DebianPackage{"onnxruntime-gpu", ""},
    DebianPackage{"opencv-contrib-python", "python3-opencv", "cv2"},
    DebianPackage{"opencv-contrib-python-headless", "python3-opencv", "cv2"},
    DebianPackage{"opencv-python", "python3-opencv", "cv2"},
    DebianPackage{"opencv-python-headless", "python3-opencv", "cv2"},
    DebianPackage{"openpyxl", "python3-openpyxl"},
    DebianPackage{"optuna", "python3-optuna"},
    DebianPackage{"packaging", "python3-packaging"},
    DebianPackage{"pandas", "python3-pandas"},
    DebianPackage{"pillow", "python3-pil"},
    DebianPackage{"plotly", "python3-plotly"},
    DebianPackage{"polars", ""},
    DebianPackage{"protobuf", "python3-protobuf"},
    DebianPackage{"psutil", "python3-psutil"},
    DebianPackage{"psycopg2", "python3-psycopg2"},
    DebianPackage{"psycopg2-binary", "python3-psycopg2"},
    DebianPackage{"pyarrow", ""},
    DebianPackage{"pydantic", "python3-pydantic"},
    DebianPackage{"pymongo", "python3-pymongo"},
    DebianPackage{"pymysql", "python3-pymysql"},
    DebianPackage{"pyodbc", "python3-pyodbc"},
    DebianPackage{"pyspark", ""},
    DebianPackage{"python-dateutil", "python3-dateutil"},
    DebianPackage{"pytorch-lightning", ""},
    DebianPackage{"pytz", "python3-tz"},
    DebianPackage{"pywavelets", "python3-pywt"},
    DebianPackage{"pyyaml", "python3-yaml"},
    DebianPackage{"pyzmq", "python3-zmq"},
    DebianPackage{"redis", "python3-redis"},
    DebianPackage{"regex", "python3-regex"},
    DebianPackage{"requests", "python3-requests"},
    DebianPackage{"safetensors", ""},
    DebianPackage{"scikit-image", "python3-skimage"},
    DebianPackage{"scikit-learn", "python3-sklearn"},
    DebianPackage{"scipy", "python3-scipy"},
    DebianPackage{"seaborn", "python3-seaborn"},
    DebianPackage{"sentencepiece", "python3-sentencepiece"},
    DebianPackage{"shap", ""},
    DebianPackage{"simplejson", "python3-simplejson"},
    DebianPackage{"six", "python3-six"},
    DebianPackage{"soundfile", "python3-soundfile"},
    DebianPackage{"spacy", ""},
    DebianPackage{"sqlalchemy", "python3-sqlalchemy"},
    DebianPackage{"statsmodels", "python3-statsmodels"},
    DebianPackage{"sympy", "python3-sympy"},
    DebianPackage{"tables", "python3-tables"},
    DebianPackage{"tabulate", "python3-tabulate"},
    DebianPackage{"tensorboard", ""},
    DebianPackage{"tensorflow", ""},
    DebianPackage{"tensorflow-cpu", ""},
    DebianPackage{"tensorflow-gpu", ""},
    DebianPackage{"tiktoken", ""},
    DebianPackage{"timm", ""},
    DebianPackage{"tokenizers", ""},
    DebianPackage{"torch", "python3-torch"},
    DebianPackage{"torchaudio", "python3-torchaudio"},
    DebianPackage{"torchvision", "python3-torchvision"},
    DebianPackage{"tqdm", "python3-tqdm"},
    DebianPackage{"transformers", ""},
    DebianPackage{"typing-extensions", "python3-typing-extensions"},
    DebianPackage{"ujson", "python3-ujson"},
    DebianPackage{"urllib3", "python3-urllib3"},
    DebianPackage{"uvicorn", "python3-uvicorn"},
    DebianPackage{"werkzeug", "python3-werkzeug"},
    DebianPackage{"xarray", "python3-xarray"},
    DebianPackage{"xgboost", "python3-xgboost"},
    DebianPackage{"xlrd", "python3-xlrd"},
    DebianPackage{"xlsxwriter", "python3-xlsxwriter"},
};

constexpr bool Sorted() {
  for (size_t i = 1; i < kPackages.size(); ++i) {
    if (!(kPackages[i - 1].distribution < kPackages[i].distribution)) return false;
  }
  return true;
}
static_assert(Sorted(), "kPackages must stay sorted by distribution, without duplicates");

}  // namespace

std::span<const DebianPackage> DebianPackages() { return kPackages; }

const DebianPackage* FindDebianPackage(std::string_view distribution) {
  auto it = std::lower_bound(
      kPackages.begin(), kPackages.end(), distribution,
      [](const DebianPackage& entry, std::string_view name) { return entry.distribution < name; });
  return it != kPackages.end() && it->distribution == distribution ? &*it : nullptr;
}

std::string DebianPackageHint(std::string_view distribution) {
  const DebianPackage* entry = FindDebianPackage(distribution);
  if (entry == nullptr) {
    return absl::StrCat(
        "no Debian 12 package known to berth; look for one with "
        "`apt-cache search --names-only python3-",
        std::string(distribution), "`");
  }
  std::string hint = entry->package.empty()
                         ? absl::StrCat("Debian 12 packages no ", std::string(distribution))
                         : absl::StrCat("apt-get install ", std::string(entry->package));
  if (!entry->note.empty()) absl::StrAppend(&hint, "; ", std::string(entry->note));
  return hint;
}

}  // namespace berth::controlplane

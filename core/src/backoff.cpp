#include "agent_worker/core/backoff.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>

namespace aw {

std::chrono::milliseconds Backoff::after(int attempt, double unit) const {
    const double base =
        static_cast<double>(initial.count()) * std::pow(2.0, std::clamp(attempt - 1, 0, 62));
    const double capped = std::min(base, static_cast<double>(max.count()));
    const double factor = 1.0 + jitter * (2.0 * std::clamp(unit, 0.0, 1.0) - 1.0);
    return std::chrono::milliseconds(static_cast<std::int64_t>(std::max(0.0, capped * factor)));
}

std::chrono::milliseconds Backoff::after(int attempt) const { return after(attempt, unitRandom()); }

double unitRandom() {
    thread_local std::mt19937_64 generator{std::random_device{}()};
    return std::uniform_real_distribution<double>(0.0, 1.0)(generator);
}

}  // namespace aw

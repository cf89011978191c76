// bench/report.hpp: summary statistics and the output lines.
#ifndef SANSTLS_BENCH_REPORT_HPP
#define SANSTLS_BENCH_REPORT_HPP

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

namespace bench {

// Summary is the median, minimum and maximum of a set of repetitions.
struct Summary {
  double median = 0;
  double min = 0;
  double max = 0;
};

inline Summary summarize(std::vector<double> values) {
  Summary s;
  if (values.empty()) return s;
  std::sort(values.begin(), values.end());
  std::size_t n = values.size();
  s.median = n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
  s.min = values.front();
  s.max = values.back();
  return s;
}

// Unit is what a scenario measures and how many decimals it is printed with.
struct Unit {
  const char* name;
  int decimals;
};
inline constexpr Unit kHandshakes{"handshakes/s", 1};
inline constexpr Unit kMegabytes{"MB/s", 1};
inline constexpr Unit kAllocations{"allocs/record", 3};
inline constexpr Unit kAllocationsPerHandshake{"allocs/handshake", 1};
inline constexpr Unit kBytes{"bytes", 0};

inline std::string format(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// ratio formats a / b, or n/a when b is zero.
inline std::string ratio(double a, double b) {
  if (b == 0) return a == 0 ? "1.000" : "n/a";
  return format(a / b, 3);
}

// print_bench prints the BENCH line comparing sanstls with the baseline.
inline void print_bench(const std::string& scenario, const Summary& sanstls,
                        const Summary& baseline, Unit unit) {
  std::printf("BENCH scenario=%s sanstls=%s baseline=%s ratio=%s unit=%s min=%s max=%s\n",
              scenario.c_str(), format(sanstls.median, unit.decimals).c_str(),
              format(baseline.median, unit.decimals).c_str(),
              ratio(sanstls.median, baseline.median).c_str(), unit.name,
              format(sanstls.min, unit.decimals).c_str(),
              format(sanstls.max, unit.decimals).c_str());
  std::fflush(stdout);
}

// print_note prints a comment line: "# " and |text|.
inline void print_note(const std::string& text) {
  std::printf("# %s\n", text.c_str());
  std::fflush(stdout);
}

}  // namespace bench

#endif  // SANSTLS_BENCH_REPORT_HPP

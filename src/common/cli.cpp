#include "common/cli.h"

#include <glog/logging.h>

#include <cstdio>
#include <iostream>
#include <sstream>

#include "common/error.h"

namespace lica {
namespace {

template <typename T>
T parse_number(const std::string& name, const std::string& text) {
  std::istringstream in(text);
  T value{};
  in >> value;
  if (text.empty() || !in || !in.eof() || (std::is_unsigned_v<T> && text[0] == '-')) {
    throw InputError("--" + name + ": expected a number, got '" + text + "'");
  }
  return value;
}

std::string number_text(double v) {
  std::ostringstream out;
  out << v;
  return out.str();
}

}  // namespace

CommandLine::CommandLine(std::string program, std::string synopsis, std::string description)
    : program_(std::move(program)), synopsis_(std::move(synopsis)),
      description_(std::move(description)) {}

CommandLine::Entry& CommandLine::add(const std::string& name, const std::string& help,
                                     bool takes_value, std::string default_text,
                                     std::function<void(const std::string&)> set) {
  entries_.push_back(Entry{name, help, std::move(default_text), takes_value, false, false,
                           std::move(set)});
  return entries_.back();
}

void CommandLine::flag(const std::string& name, const std::string& help, bool* target) {
  add(name, help, false, "", [target](const std::string&) { *target = true; });
}

void CommandLine::option(const std::string& name, const std::string& help, std::string* target) {
  add(name, help, true, *target, [target](const std::string& v) { *target = v; });
}

void CommandLine::option(const std::string& name, const std::string& help, int64_t* target) {
  add(name, help, true, std::to_string(*target),
      [name, target](const std::string& v) { *target = parse_number<int64_t>(name, v); });
}

void CommandLine::option(const std::string& name, const std::string& help, uint64_t* target) {
  add(name, help, true, std::to_string(*target),
      [name, target](const std::string& v) { *target = parse_number<uint64_t>(name, v); });
}

void CommandLine::option(const std::string& name, const std::string& help, double* target) {
  add(name, help, true, number_text(*target),
      [name, target](const std::string& v) { *target = parse_number<double>(name, v); });
}

void CommandLine::repeated(const std::string& name, const std::string& help,
                           std::vector<std::string>* target) {
  add(name, help, true, "", [target](const std::string& v) { target->push_back(v); });
}

void CommandLine::require(const std::string& name) {
  for (auto& e : entries_) {
    if (e.name == name) e.required = true;
  }
}

void CommandLine::positional(const std::string& name, const std::string& help,
                             std::string* target) {
  positionals_.push_back(Positional{name, help, target});
}

bool CommandLine::parse(int argc, char** argv) {
  size_t positionals_seen = 0;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << usage();
      return false;
    }
    if (arg.rfind("--", 0) != 0) {
      if (positionals_seen == positionals_.size()) {
        throw InputError("unexpected argument '" + arg + "' (see " + program_ + " --help)");
      }
      *positionals_[positionals_seen++].target = arg;
      continue;
    }
    std::string name = arg.substr(2), value;
    const bool inline_value = name.find('=') != std::string::npos;
    if (inline_value) {
      value = name.substr(name.find('=') + 1);
      name = name.substr(0, name.find('='));
    }
    Entry* entry = nullptr;
    for (auto& e : entries_) {
      if (e.name == name) entry = &e;
    }
    if (!entry) throw InputError("unknown option '--" + name + "' (see " + program_ + " --help)");
    if (entry->takes_value && !inline_value) {
      if (i + 1 >= argc) throw InputError("--" + name + " needs a value");
      value = argv[++i];
    } else if (!entry->takes_value && inline_value) {
      throw InputError("--" + name + " takes no value");
    }
    entry->set(value);
    entry->seen = true;
  }
  for (const auto& e : entries_) {
    if (e.required && !e.seen) {
      throw InputError("missing --" + e.name + " (see " + program_ + " --help)");
    }
  }
  if (positionals_seen < positionals_.size()) {
    throw InputError("missing " + positionals_[positionals_seen].name + " (see " + program_ +
                     " --help)");
  }
  return true;
}

std::string CommandLine::usage() const {
  std::ostringstream out;
  out << "usage: " << program_ << " " << synopsis_ << "\n\n" << description_ << "\n\n";
  if (!positionals_.empty()) {
    out << "arguments:\n";
    for (const auto& p : positionals_) {
      std::string head = "  " + p.name;
      out << head << std::string(head.size() < 30 ? 30 - head.size() : 1, ' ') << p.help << "\n";
    }
    out << "\n";
  }
  out << "options:\n";
  for (const auto& e : entries_) {
    std::string head = "  --" + e.name + (e.takes_value ? " VALUE" : "");
    out << head << std::string(head.size() < 30 ? 30 - head.size() : 1, ' ') << e.help;
    if (e.required) {
      out << " (required)";
    } else if (e.takes_value && !e.default_text.empty()) {
      out << " (default " << e.default_text << ")";
    }
    out << "\n";
  }
  out << "  --help" << std::string(22, ' ') << "this text\n\n"
      << "exit status: 0 success, 2 bad input (arguments, config, data), 1 internal failure\n";
  return out.str();
}

int run_program(const std::function<int()>& body) {
  try {
    return body();
  } catch (const InputError& e) {
    LOG(ERROR) << e.what();
    return kExitBadInput;
  } catch (const std::exception& e) {
    LOG(ERROR) << "internal failure: " << e.what();
    return kExitInternal;
  }
}

}  // namespace lica

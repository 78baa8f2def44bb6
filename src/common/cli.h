// Command-line parsing shared by the programs: `--name value` options, `--name` flags,
// repeatable options, required positional arguments, `--help`. Table-driven: each option binds to a variable that holds
// its default.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace lica {

class CommandLine {
 public:
  CommandLine(std::string program, std::string synopsis, std::string description);

  void flag(const std::string& name, const std::string& help, bool* target);
  void option(const std::string& name, const std::string& help, std::string* target);
  void option(const std::string& name, const std::string& help, int64_t* target);
  void option(const std::string& name, const std::string& help, uint64_t* target);
  void option(const std::string& name, const std::string& help, double* target);
  // May be given several times; values are appended in order.
  void repeated(const std::string& name, const std::string& help, std::vector<std::string>* target);
  // Must be given (checked by parse()).
  void require(const std::string& name);
  // A required positional argument (`FILE`); positionals are taken in the order declared.
  void positional(const std::string& name, const std::string& help, std::string* target);

  // Parses argv. Returns false if --help was asked for (usage() was written to stdout):
  // the program should exit 0. Throws lica::InputError naming the argument otherwise.
  bool parse(int argc, char** argv);
  std::string usage() const;

 private:
  struct Entry {
    std::string name, help, default_text;
    bool takes_value = true;
    bool required = false;
    bool seen = false;
    std::function<void(const std::string&)> set;
  };
  Entry& add(const std::string& name, const std::string& help, bool takes_value,
             std::string default_text, std::function<void(const std::string&)> set);

  struct Positional {
    std::string name, help;
    std::string* target;
  };

  std::string program_, synopsis_, description_;
  std::vector<Entry> entries_;
  std::vector<Positional> positionals_;
};

// Runs a program's body and maps what escapes it to the exit codes of every lica program:
// lica::InputError -> 2, anything else -> 1, each logged with its message.
int run_program(const std::function<int()>& body);

}  // namespace lica

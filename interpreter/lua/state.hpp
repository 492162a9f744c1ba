// RAII owner of a lua_State. The Host pointer lives in the state's extra space.
#pragma once

#include <lua.hpp>

#include "lua/host.hpp"

namespace weir::lua {

class State {
 public:
  explicit State(Host* host);
  ~State();
  State(const State&) = delete;
  State& operator=(const State&) = delete;
  lua_State* get() const { return L_; }
  operator lua_State*() const { return L_; }

 private:
  lua_State* L_;
};

}  // namespace weir::lua
